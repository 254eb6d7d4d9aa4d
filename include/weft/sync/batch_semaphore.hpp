// batch_semaphore: the fair counting semaphore under weft::mutex, weft::shared_mutex and
// weft::semaphore (Tokio's batch_semaphore). Not for users.
//
// State: one atomic word, state_ = permits << 4 | standby | handed | waiters | closed.
//   permits  available now. Invariant: permits > 0 implies no waiter is queued, because a
//            release with waiters queued hands its permits to them first (partial assignment:
//            the front waiter accumulates permits until it has all it asked for). So the
//            lock-free fast paths (try_acquire: one CAS; release with no waiters: one CAS)
//            can never barge past a queued waiter, and a try_acquire right after a release
//            that handed permits off fails.
//   waiters  set under mu_ whenever waiters_ may be non-empty; while it is set, release goes
//            to the slow path under mu_, so it cannot miss a waiter that is being queued.
//   closed   sticky; set under mu_ by close().
//   handed   the permits were last handed to a queued waiter (which may not be running yet);
//            cleared by the next release that hands nothing. While it is set, a hand-off
//            chain is draining the queue ("convoy"), and the mutex sends newcomers to standby.
//   standby  standby_ is non-empty (set under mu_); release then goes through mu_ to wake it.
// mu_ (a spin_lock) guards both lists and each queued waiter's `remaining`. Wakes happen after
// mu_ is released (wait_list.hpp's wake_batch). A mutex is this with 1 permit; a shared_mutex
// with max_readers permits, a writer asking for all of them (so it waits, FIFO, for the
// readers before it to leave, and readers after it wait for it: no writer starvation).
//
// Standby (mutex only, see docs/notes/sync.md): with FIFO hand-off, a queue sustains itself
// (each owner re-locks and queues behind), costing a task switch per lock. A contended lock()
// that finds `handed` set parks on standby_ instead of joining the queue; standby_ is woken
// when a release hands nothing (the queue has drained), and each standby waiter then retries
// once before it queues. Standby waiters are not queued: nothing is ever granted past a queued
// waiter.
//
// Cancel-safety: a waiter cancelled while queued unlinks itself and gives back the permits
// already assigned to it (which go to the next waiters); a waiter granted and then aborted
// releases everything it was granted (granted and past a deadline: it keeps them, the next
// cancellation point throws). A standby waiter holds nothing. Nothing is lost or duplicated.
//
// Select claims (detail/select_claim.hpp): a waiter is claimed for when it would complete
// (partial assignment takes no claim, so a branch waiting for more permits does not hold its
// select). Refused, it gives back what was assigned to it, is dequeued and granted
// wait_status::refused, and retries its acquire once its race reopens (acquire_slow); the
// invariants above hold unchanged. A lock-free take in a select branch claims right after
// taking and, refused, releases what it took and retries the same way (claim_taken).
#pragma once

#include <weft/detail/wait_list.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <source_location>
#include <tuple>
#include <utility>

namespace weft::detail {

class batch_semaphore;

/// A waiter for `needed` permits; `remaining` of them are still missing (under the lock).
struct permit_waiter : wait_node {
    permit_waiter(batch_semaphore* s, std::size_t n) noexcept
        : sem(s),
          needed(n),
          remaining(n) {}
    /// Asio cancellation: see wait_list.hpp.
    bool cancel_wait() noexcept;

    batch_semaphore* sem;
    std::size_t needed;
    std::size_t remaining;
};

class batch_semaphore {
   public:
    /// Permits are counted in the upper bits of one word; this many at most.
    static constexpr std::size_t max_permits = SIZE_MAX >> 5;

    explicit batch_semaphore(std::size_t permits) noexcept
        : state_(permits << shift) {}
    batch_semaphore(const batch_semaphore&) = delete;
    batch_semaphore& operator=(const batch_semaphore&) = delete;

    /// Takes `n` permits if they are available now and nobody waits (never barges); false
    /// otherwise, and when closed. n == 0 succeeds unless closed.
    bool try_acquire(std::size_t n) noexcept {
        std::size_t s = state_.load(std::memory_order_relaxed);
        for (;;) {
            if ((s & (waiters_bit | closed_bit)) || (s >> shift) < n) return false;
            // Ordering: acquire pairs with the release that returned these permits (the
            // previous holder's critical section happens before ours).
            if (state_.compare_exchange_weak(s, s - (n << shift), std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
                return true;
            }
        }
    }

    /// The single-permit case (a mutex): one CAS from "exactly one permit, no flags".
    bool try_acquire_one() noexcept {
        std::size_t s = std::size_t{1} << shift;
        return state_.compare_exchange_strong(s, 0, std::memory_order_acquire,
                                              std::memory_order_relaxed) ||
               try_acquire(1);
    }

    /// The mutex's first step when contended: while the lock is held by a running holder
    /// (not handed to a parked waiter) and nobody is queued, spin a little on the state word
    /// before parking. Lock holds are short, so this mostly avoids forming a queue at all.
    /// No `pause`: on the VMs this runs on, one costs tens of nanoseconds.
    bool spin_acquire_one() noexcept {
        for (unsigned i = 0; i < spin_limit; ++i) {
            std::size_t s = state_.load(std::memory_order_relaxed);
            if (s & (waiters_bit | closed_bit | handed_bit)) return false;
            if ((s >> shift) != 0 && state_.compare_exchange_weak(s, s - (std::size_t{1} << shift),
                                                                  std::memory_order_acquire,
                                                                  std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }

    /// Gives `n` permits back: to the queued waiters first, in FIFO order.
    void release(std::size_t n) noexcept {
        std::size_t s = state_.load(std::memory_order_relaxed);
        while (!(s & (waiters_bit | standby_bit))) {
            // Ordering: release pairs with the next acquirer's acquire.
            if (state_.compare_exchange_weak(s, (s & ~handed_bit) + (n << shift),
                                             std::memory_order_release,
                                             std::memory_order_relaxed)) {
                return;
            }
        }
        release_slow(n);
    }

    /// The single-permit case: one CAS from "no permits, no flags".
    void release_one() noexcept {
        std::size_t s = 0;
        if (state_.compare_exchange_strong(s, std::size_t{1} << shift, std::memory_order_release,
                                           std::memory_order_relaxed)) {
            return;
        }
        release(1);
    }

    /// After a lock-free take of `n` permits in the current task: true (keeps them) if the
    /// task need not claim or holds its select. Otherwise releases them, waits for the race to
    /// reopen (wait_reopened; throws if the task is aborted meanwhile) and returns false: the
    /// caller acquires again through acquire_slow.
    [[nodiscard]] bool claim_taken(std::size_t n, const char* what, std::source_location where) {
        return claim_taken(current_claimer(), n, what, where);
    }
    /// claim_taken with the claimer the operation took at its start (current_claimer()).
    [[nodiscard]] bool claim_taken(const claim_record* claimer, std::size_t n, const char* what,
                                   std::source_location where) {
        if (claim_select(claimer)) return true;
        release(n);
        wait_reopened(what, where);
        return false;
    }

    /// The public try_ operations (mutex::try_lock, shared_mutex's, semaphore::try_acquire):
    /// try_acquire, keeping the permits only if the caller need not claim or holds its select
    /// (claim_for_try, which gives back no claim the branch holds). Refused, it releases them
    /// and returns false, having taken nothing: a losing branch that returned with them would
    /// leave them held by nobody.
    [[nodiscard]] bool try_acquire_claimed(std::size_t n) noexcept {
        if (!(n == 1 ? try_acquire_one() : try_acquire(n))) return false;
        if (claim_for_try()) return true;
        release(n);
        return false;
    }

    /// Waits for `n` permits (fiber or thread). Returns wait_status::granted, or
    /// wait_status::closed. Call after try_acquire failed. Throws task_cancelled (having
    /// consumed nothing) if the task is cancelled while waiting.
    std::uint32_t acquire_slow(std::size_t n, const char* what, std::source_location where);

    /// Mutex: if the permits are held by a hand-off owner (a queue is draining), waits on
    /// standby (not queued) until a release hands nothing, and returns true; returns false at
    /// once otherwise. Takes nothing. Throws task_cancelled if cancelled while waiting.
    bool wait_standby(const char* what, std::source_location where);

    /// Closes: every queued and later acquire ends with wait_status::closed.
    void close() noexcept;
    [[nodiscard]] bool is_closed() const noexcept {
        return (state_.load(std::memory_order_acquire) & closed_bit) != 0;
    }
    [[nodiscard]] std::size_t available() const noexcept {
        return state_.load(std::memory_order_acquire) >> shift;
    }

    /// Under the lock: takes w.remaining permits, or takes what there is and queues `w`.
    /// Returns granted, closed, or waiting (queued).
    std::uint32_t enqueue(permit_waiter& w) noexcept;
    /// The waiter side of cancellation: if `w` is queued, unlinks it and gives back the
    /// permits assigned to it so far; returns true. False if it was granted or closed.
    bool cancel(permit_waiter& w) noexcept;

    /// Starts an Asio acquire (see wait_list.hpp): `op` is an async_wait_op whose Node
    /// derives from permit_waiter.
    template <class Op>
    void start_async(Op& op) {
        if (try_acquire(op.needed)) {
            op.complete(wait_status::granted);
            return;
        }
        arm_and_enqueue(op, [this](Op& o) noexcept { return enqueue(o); });
    }

   private:
    static constexpr std::size_t closed_bit = 1;
    static constexpr std::size_t waiters_bit = 2;
    static constexpr std::size_t handed_bit = 4;
    static constexpr std::size_t standby_bit = 8;
    static constexpr unsigned shift = 4;
    static constexpr std::size_t flags_mask = (std::size_t{1} << shift) - 1;
    static constexpr unsigned spin_limit = 256;

    void release_slow(std::size_t n) noexcept;
    // With mu_ held in `lk`: hands `n` permits to the waiters, the rest to state_; releases
    // mu_ and performs the wakes.
    void assign_locked(std::size_t n, std::unique_lock<spin_lock>& lk) noexcept;
    bool cancel_standby(permit_waiter& w) noexcept;

    std::atomic<std::size_t> state_;
    spin_lock mu_;
    wait_list<permit_waiter> waiters_;
    wait_list<permit_waiter> standby_;
};

inline bool permit_waiter::cancel_wait() noexcept { return sem->cancel(*this); }

/// The Asio waiter of a lock built on a batch_semaphore (weft::mutex, weft::shared_mutex).
/// `Lock` (a std::unique_lock or std::shared_lock) is what the handler gets: owning the lock
/// when granted (adopted: the permits are taken already), empty with operation_aborted when
/// cancelled. A handler destroyed uninvoked unlocks through it (wait_list.hpp's contract).
template <class Lock>
struct lock_waiter : permit_waiter {
    using mutex_type = typename Lock::mutex_type;
    lock_waiter(batch_semaphore* s, std::size_t n, mutex_type* m) noexcept
        : permit_waiter(s, n),
          owner(m) {}
    std::tuple<boost::system::error_code, Lock> completion_args(std::uint32_t s) noexcept {
        if (s == wait_status::granted)
            return {boost::system::error_code(), Lock(*owner, std::adopt_lock)};
        return {boost::asio::error::operation_aborted, Lock()};
    }
    mutex_type* owner;
};

/// The Asio lock of `m`, a lock that takes `n` permits of `sem`: completes with
/// `void(error_code, Lock)` (see lock_waiter), on the handler's executor, never inline.
template <class Lock, class CompletionToken>
auto async_lock_permits(batch_semaphore& sem, std::size_t n, typename Lock::mutex_type& m,
                        CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, Lock)>(
        [](auto handler, batch_semaphore* s, std::size_t k, typename Lock::mutex_type* owner) {
            using op = async_wait_op_for<lock_waiter<Lock>, decltype(handler)>;
            s->start_async(*op::create(std::move(handler), s, k, owner));
        },
        token, &sem, n, &m);
}

}  // namespace weft::detail
