// weft::notify: wake one task or all waiting tasks (Tokio's sync::Notify).
//
// State: one atomic word, state_ = notify_waiters calls << 2 | {empty, waiting, notified}.
//   empty     nobody waits and no permit is stored
//   waiting   waiters_ is non-empty (set and cleared only under mu_)
//   notified  one stored permit (notify_one with nobody waiting); the next wait consumes it
// The calls counter is bumped (under mu_) by every notify_waiters, so a waiter that took a
// snapshot of it (enroll) knows whether a notify_waiters came after, even before it queued.
// Fast paths without mu_: consuming a stored permit, and notify_one storing one, are a CAS
// each. mu_ guards the lists; wakes run after it is released.
// Select claims (detail/select_claim.hpp): notify_one claims for the waiter it picks; a
// refused waiter is dequeued and granted wait_status::refused (it retries once its race
// reopens) and the notification goes to the next waiter or is stored. A select branch that
// takes the stored permit claims right after the CAS and, refused, stores it back.
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/wait_list.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <variant>

namespace weft {

/// Notifies tasks: notify_one() wakes the first waiter or, with nobody waiting, stores one
/// permit (at most one) that the next notified() consumes at once; notify_waiters() wakes
/// every current waiter and stores nothing. Waiters are woken in FIFO order.
///
/// To wait for a condition without missing a notify_waiters() that happens between the check
/// and the wait, enroll first (Tokio's `Notified` future):
/// ```cpp
/// for (;;) {
///     auto w = n.enroll();
///     if (ready()) break;
///     w.wait();          // returns at once if notify_waiters() ran after enroll()
/// }
/// ```
class notify {
   public:
    /// A registration made by enroll(): wait() also completes for every notify_waiters()
    /// issued after enroll(), even before wait() was called. Single use; movable.
    class waiter {
       public:
        /// Takes over `o`'s registration; `o` becomes empty.
        waiter(waiter&& o) noexcept
            : owner_(std::exchange(o.owner_, nullptr)),
              calls_(o.calls_) {}
        /// Move assignment: drops this waiter's registration, then takes over `o`'s.
        waiter& operator=(waiter&& o) noexcept {
            owner_ = std::exchange(o.owner_, nullptr);
            calls_ = o.calls_;
            return *this;
        }
        waiter(const waiter&) = delete;
        waiter& operator=(const waiter&) = delete;

        /// Waits for a stored permit, a notify_one, or a notify_waiters issued after
        /// enroll(). std::logic_error if used twice or moved from.
        /// **Cancellation**: cancel-safe. An aborted waiter throws task_cancelled having
        /// consumed nothing; a notify_one handed to it meanwhile goes to the next waiter (or
        /// is stored as the permit).
        void wait(std::source_location where = std::source_location::current()) {
            notify* n = take();
            n->wait_from(calls_, where);
        }

        /// Asio form of wait(): `void(error_code)`.
        /// **Cancellation**: through the handler's slot (terminal, partial, total):
        /// operation_aborted, nothing consumed.
        template <class CompletionToken>
        auto async_wait(CompletionToken&& token) {
            notify* n = take();
            return n->async_wait_from(calls_, std::forward<CompletionToken>(token));
        }

       private:
        friend class notify;
        waiter(notify* n, std::uint64_t calls) noexcept
            : owner_(n),
              calls_(calls) {}
        notify* take() {
            if (!owner_) throw std::logic_error("weft::notify::waiter: used twice or moved from");
            return std::exchange(owner_, nullptr);
        }
        notify* owner_;
        std::uint64_t calls_;
    };

    notify() noexcept = default;
    notify(const notify&) = delete;
    notify& operator=(const notify&) = delete;

    /// Wakes the first waiter; with nobody waiting, stores a permit (at most one).
    void notify_one() noexcept;
    /// Wakes every task waiting now (and every enrolled waiter); stores nothing.
    void notify_waiters() noexcept;

    /// Waits for a permit or a notification. A stored permit is consumed at once (a
    /// cooperative scheduling point). std::logic_error if it would have to wait on a worker
    /// thread outside a task (use async_notified there).
    /// **Cancellation**: cancel-safe. An aborted waiter throws task_cancelled having consumed
    /// nothing; a notify_one handed to it meanwhile goes to the next waiter (or is stored).
    /// A select branch takes a notify_one or the stored permit only once it has won the
    /// select; one handed over as a timeout's deadline passes is returned.
    void notified(std::source_location where = std::source_location::current()) {
        std::uint64_t s = state_.load(std::memory_order_acquire);
        wait_from(s >> calls_shift, where);
    }

    class notified_operation;

    /// notified() as an operation of weft::select over operations (no fiber of its own):
    /// `weft::select(n.notified_op(), rx.recv_op())`. Like notified(), a notify_waiters that
    /// comes after this call completes it, and it consumes a notify_one's permit only when it
    /// wins.
    /// **Cancellation**: as notified() (weft::select over operations).
    [[nodiscard]] notified_operation notified_op() noexcept;

    /// Registers now for notify_waiters() (see the class example).
    [[nodiscard]] waiter enroll() noexcept {
        return waiter(this, state_.load(std::memory_order_acquire) >> calls_shift);
    }

    /// Asio form of notified(): `void(error_code)`.
    /// **Cancellation**: terminal, partial and total cancellation through the handler's slot
    /// complete it with asio::error::operation_aborted; nothing is consumed (a notify_one that
    /// reached it first completes it normally).
    template <class CompletionToken>
    auto async_notified(CompletionToken&& token) {
        std::uint64_t s = state_.load(std::memory_order_acquire);
        return async_wait_from(s >> calls_shift, std::forward<CompletionToken>(token));
    }

   private:
    static constexpr std::uint64_t empty = 0;
    static constexpr std::uint64_t waiting = 1;
    static constexpr std::uint64_t notified_state = 2;
    static constexpr std::uint64_t state_mask = 3;
    static constexpr unsigned calls_shift = 2;
    /// Final status of a waiter woken by notify_waiters (nothing to pass on).
    static constexpr std::uint32_t woken_all = detail::wait_status::user;

    struct waiter_node : detail::wait_node {
        explicit waiter_node(notify* n) noexcept
            : owner(n) {}
        bool cancel_wait() noexcept { return owner->cancel(*this); }
        std::tuple<boost::system::error_code> completion_args(std::uint32_t s) noexcept {
            if (s == detail::wait_status::aborted) return {boost::asio::error::operation_aborted};
            return {boost::system::error_code()};
        }
        notify* owner;
    };

    // Consumes a stored permit without the lock.
    bool try_take_permit() noexcept {
        std::uint64_t s = state_.load(std::memory_order_relaxed);
        while ((s & state_mask) == notified_state) {
            // Ordering: acquire pairs with notify_one's release.
            if (state_.compare_exchange_weak(s, s & ~state_mask, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }

    // Takes a stored permit for `claimer`: granted (taken, claimed), refused (the claim was
    // refused and the permit went back), or waiting (none stored: queue a waiter).
    std::uint32_t take_permit(const detail::claim_record* claimer) noexcept;
    void wait_from(std::uint64_t calls, std::source_location where);
    // One attempt of wait_from: true when done, false when a select claim was refused.
    bool wait_once(std::uint64_t calls, std::source_location where);
    // Under the lock: done now (notify_waiters since `calls`, or a stored permit), or queued.
    std::uint32_t enqueue(waiter_node& w, std::uint64_t calls) noexcept;
    bool cancel(waiter_node& w) noexcept;

    template <class CompletionToken>
    auto async_wait_from(std::uint64_t calls, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
            [](auto handler, notify* self, std::uint64_t snapshot) {
                using op = detail::async_wait_op_for<waiter_node, decltype(handler)>;
                op* o = op::create(std::move(handler), self);
                if ((self->state_.load(std::memory_order_acquire) >> calls_shift) != snapshot ||
                    self->try_take_permit()) {
                    o->complete(detail::wait_status::granted);
                    return;
                }
                detail::arm_and_enqueue(
                    *o, [&](op& queued) noexcept { return self->enqueue(queued, snapshot); });
            },
            token, this, calls);
    }

    std::atomic<std::uint64_t> state_{empty};
    detail::spin_lock mu_;
    detail::wait_list<waiter_node> waiters_;
};

/// What notify::notified_op() returns: one notified() for weft::select over operations.
class notify::notified_operation {
   public:
    /// What weft::select returns at this operation's index.
    using value_type = std::monostate;
    notified_operation(const notified_operation&) = delete;
    notified_operation& operator=(const notified_operation&) = delete;

    /// The select_op protocol (weft/detail/select_op.hpp); called by weft::select only.
    std::uint32_t start(const detail::claim_record* rec, const detail::waker& w);
    /// The select_op protocol: the status of the queued waiter.
    [[nodiscard]] std::uint32_t status() const noexcept { return node_->status(); }
    /// The select_op protocol: leaves the queue (true if it was still queued).
    bool withdraw() noexcept { return owner_->cancel(*node_); }
    /// The select_op protocol: the winner's result.
    value_type finish(std::uint32_t) noexcept { return {}; }

   private:
    friend class notify;
    notified_operation(notify* n, std::uint64_t calls) noexcept
        : owner_(n),
          calls_(calls) {}
    notify* owner_;
    std::uint64_t calls_;  // notify_waiters calls seen when the operation was made
    std::optional<waiter_node> node_;
};

inline notify::notified_operation notify::notified_op() noexcept {
    return notified_operation(this, state_.load(std::memory_order_acquire) >> calls_shift);
}

}  // namespace weft
