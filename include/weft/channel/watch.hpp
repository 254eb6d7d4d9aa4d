// weft::watch: a single value that one sender updates and many receivers observe, each
// learning when it changed (Tokio's tokio::sync::watch). Receivers see the latest value only,
// never a backlog.
//
//   auto [tx, rx] = weft::watch::channel<config>(load());
//   weft::spawn([rx]() mutable { for (;;) { rx.changed(); apply(*rx.borrow_and_update()); } });
//   tx.send(reload());
//
// The state, its locks and the no-lost-wake argument are in detail/watch_state.hpp.
#pragma once

#include <weft/channel/detail/misuse.hpp>
#include <weft/channel/detail/watch_state.hpp>

#include <boost/asio/async_result.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <source_location>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace weft::watch {

template <class T>
class sender;
template <class T>
class receiver;

/// A read guard on the channel's value (Tokio's watch::Ref). While it lives, the sender
/// cannot store a new value: keep it short, and never hold it across a suspension point (a
/// task may resume on another thread; doing so is undefined).
template <class T>
class ref {
   public:
    /// The borrowed value.
    const T& operator*() const noexcept { return *v_; }
    /// Member access to the borrowed value.
    const T* operator->() const noexcept { return v_; }
    /// The borrowed value.
    const T& get() const noexcept { return *v_; }

   private:
    friend class sender<T>;
    friend class receiver<T>;
    ref(std::shared_mutex& mu, const T& v)
        : lk_(mu),
          v_(&v) {}
    std::shared_lock<std::shared_mutex> lk_;
    const T* v_;
};

/// The sending half: movable, single. Destroying it closes the channel: receivers get
/// channel_closed from changed() once they have seen the last value.
template <class T>
class sender {
   public:
    /// Takes over `o`'s end of the channel; `o` becomes empty.
    sender(sender&&) noexcept = default;
    /// Drops this sender (closing the channel for receivers), then takes over `o`'s.
    sender& operator=(sender&& o) noexcept {
        if (this != &o) {
            reset();
            shared_ = std::move(o.shared_);
        }
        return *this;
    }
    sender(const sender&) = delete;
    sender& operator=(const sender&) = delete;
    ~sender() { reset(); }

    /// Stores `value` (even when there is no receiver) and wakes every receiver waiting in
    /// changed(). Never suspends (it takes the value's write lock, which borrows hold).
    void send(T value) const { (void)send_replace(std::move(value)); }

    /// As send, and returns the previous value.
    T send_replace(T value) const {
        auto& shared = state();
        {
            std::unique_lock lk(shared.value_mu);
            std::swap(shared.value, value);
            shared.version.fetch_add(1, std::memory_order_release);
        }
        shared.notify(weft::detail::wait_status::granted);
        return value;
    }

    /// Modifies the value in place with `f(T&)` under the write lock, then notifies as send
    /// does. If `f` throws, nobody is notified and the exception propagates.
    template <class F>
    requires std::is_invocable_v<F&, T&>
    void send_modify(F&& f) const {
        send_if_modified([&](T& v) {
            std::invoke(f, v);
            return true;
        });
    }

    /// Modifies the value with `f(T&)`; notifies (and counts a new version) only if `f`
    /// returns true. Returns what `f` returned.
    template <class F>
    requires std::is_invocable_r_v<bool, F&, T&>
    bool send_if_modified(F&& f) const {
        auto& shared = state();
        {
            std::unique_lock lk(shared.value_mu);
            if (!std::invoke(f, shared.value)) return false;
            shared.version.fetch_add(1, std::memory_order_release);
        }
        shared.notify(weft::detail::wait_status::granted);
        return true;
    }

    /// A new receiver; the value current now counts as seen by it.
    receiver<T> subscribe() const;

    /// Reads the current value (a read guard; see ref).
    ref<T> borrow() const { return ref<T>(state().value_mu, state().value); }

    /// The number of live receivers.
    [[nodiscard]] std::size_t receiver_count() const {
        auto& shared = state();
        std::lock_guard lk(shared.mu);
        return shared.rx_count;
    }

    /// True when there is no receiver (values are still stored).
    [[nodiscard]] bool is_closed() const { return receiver_count() == 0; }

   private:
    template <class U>
    friend std::pair<sender<U>, receiver<U>> channel(U);
    explicit sender(weft::detail::chan::watch_ptr<T> shared) noexcept
        : shared_(std::move(shared)) {}
    weft::detail::chan::watch_state<T>& state() const {
        if (!shared_) weft::detail::chan::throw_moved_from("weft::watch::sender");
        return *shared_;
    }
    void reset() noexcept {
        if (!shared_) return;
        // Ordering: release; receivers read `closed` (acquire) before `version`.
        shared_->closed.store(true, std::memory_order_release);
        shared_->notify(weft::detail::wait_status::closed);
        shared_.reset();
    }

    weft::detail::chan::watch_ptr<T> shared_;
};

/// A receiving half. Copyable (a copy starts with the same seen version) and movable; each
/// copy is single-owner.
template <class T>
class receiver {
   public:
    /// Another receiver of the same channel, which has seen what `o` has seen.
    receiver(const receiver& o) {
        if (!o.shared_) return;  // a copy of a moved-from receiver is moved-from too
        cur_ = std::make_unique<weft::detail::chan::watch_cursor>();
        cur_->seen.store(o.cur_->seen.load(std::memory_order_relaxed), std::memory_order_relaxed);
        std::lock_guard lk(o.shared_->mu);
        ++o.shared_->rx_count;
        shared_ = o.shared_;
    }
    /// Takes over `o`'s subscription; `o` becomes empty.
    receiver(receiver&&) noexcept = default;
    /// Copy assignment (as the copy constructor).
    receiver& operator=(const receiver& o) {
        receiver tmp(o);
        swap(tmp);
        return *this;
    }
    /// Move assignment (as the move constructor).
    receiver& operator=(receiver&& o) noexcept {
        receiver tmp(std::move(o));
        swap(tmp);
        return *this;
    }
    ~receiver() { reset(); }
    /// Exchanges two receivers.
    void swap(receiver& o) noexcept {
        shared_.swap(o.shared_);
        cur_.swap(o.cur_);
    }

    /// Waits until a value this receiver has not seen is there, and marks it seen. Returns
    /// at once if one is there already. Throws channel_closed if the sender is gone and no
    /// unseen value remains.
    /// **Cancellation**: cancel-safe: an abort while waiting throws task_cancelled and marks
    /// nothing seen. A select branch marks the value seen only once it has won the select.
    void changed(std::source_location where = std::source_location::current()) {
        namespace chan = weft::detail::chan;
        using probe = typename chan::watch_state<T>::probe;
        auto& shared = state();
        weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
        weft::detail::consume_budget(where);
        const weft::detail::claim_record* claimer = weft::detail::current_claimer();
        for (bool first = true;;) {
            // A select branch marks the value seen only once it has won the select.
            probe p = shared.check(*cur_, claimer == nullptr);
            if (p == probe::changed) {
                if (claimer == nullptr) return;
                if (!weft::detail::claim_select(claimer)) {
                    weft::detail::wait_reopened("watch::changed", where);  // marked nothing
                    first = false;
                    continue;
                }
                shared.check(*cur_, true);  // marks the newest version, which is changed too
                return;
            }
            if (p == probe::closed) throw channel_closed("weft::watch: the sender is gone");
            chan::watch_node node;
            {
                std::lock_guard lk(shared.mu);
                if (shared.check(*cur_, false) != probe::unchanged) continue;  // raced with a send
                chan::queue_cursor_waiter_locked(
                    *cur_, shared.waiters, node,
                    weft::detail::current_waker("weft::watch::receiver::changed"),
                    chan::watch_receiver_name, "wait");
            }
            chan::wait_queued(shared.mu, node, "watch::changed", where, first);
            first = false;
        }
    }

    /// True if a value this receiver has not seen is there. Throws channel_closed if the
    /// sender is gone and no unseen value remains. Marks nothing.
    [[nodiscard]] bool has_changed() const {
        using probe = typename weft::detail::chan::watch_state<T>::probe;
        probe p = state().check(*cur_, false);
        if (p == probe::closed) throw channel_closed("weft::watch: the sender is gone");
        return p == probe::changed;
    }

    /// Reads the current value without marking it seen (a read guard; see ref).
    ref<T> borrow() const { return ref<T>(state().value_mu, state().value); }

    /// Reads the current value and marks it seen (a read guard; see ref). In a select branch
    /// that a sibling has beaten, it reads the value and marks nothing: the next changed()
    /// still sees it.
    ref<T> borrow_and_update() {
        auto& shared = state();
        ref<T> r(shared.value_mu, shared.value);
        // The version cannot move while the read lock is held.
        std::uint64_t v = shared.version.load(std::memory_order_acquire);
        // Marking a version seen takes it from the next changed(), so a select branch claims
        // first; claim_for_try keeps a claim the branch holds (changed() then this).
        if (cur_->seen.load(std::memory_order_relaxed) != v && weft::detail::claim_for_try()) {
            cur_->seen.store(v, std::memory_order_relaxed);
        }
        return r;
    }

    /// Asio form of changed(): void(error_code); error::channel_closed once the sender is
    /// gone and nothing unseen remains. Cancellation through the handler's slot completes
    /// with operation_aborted and marks nothing. Destroying the receiver aborts a pending one.
    template <boost::asio::completion_token_for<void(boost::system::error_code)> Token>
    auto async_changed(Token&& token) {
        namespace chan = weft::detail::chan;
        return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
            chan::watch_initiate_changed<T>{chan::watch_ptr<T>(&state()), cur_.get()}, token);
    }

   private:
    friend class sender<T>;
    template <class U>
    friend std::pair<sender<U>, receiver<U>> channel(U);
    receiver(weft::detail::chan::watch_ptr<T> shared, std::uint64_t seen)
        : shared_(std::move(shared)),
          cur_(std::make_unique<weft::detail::chan::watch_cursor>()) {
        cur_->seen.store(seen, std::memory_order_relaxed);
    }
    weft::detail::chan::watch_state<T>& state() const {
        if (!shared_) weft::detail::chan::throw_moved_from(weft::detail::chan::watch_receiver_name);
        return *shared_;
    }
    void reset() noexcept {
        weft::detail::chan::drop_cursor_receiver(shared_, cur_,
                                                 [&]() noexcept { --shared_->rx_count; });
    }

    weft::detail::chan::watch_ptr<T> shared_;
    std::unique_ptr<weft::detail::chan::watch_cursor> cur_;
};

template <class T>
receiver<T> sender<T>::subscribe() const {
    auto& shared = state();
    receiver<T> r(shared_, shared.version.load(std::memory_order_acquire));
    std::lock_guard lk(shared.mu);
    ++shared.rx_count;
    return r;
}

/// Creates a watch channel holding `initial`, which the returned receiver counts as seen.
///
/// ```cpp
/// auto [tx, rx] = weft::watch::channel<int>(1);
/// weft::spawn([rx = std::move(rx)]() mutable {
///     for (;;) {
///         rx.changed();  // waits for a value not yet seen
///         apply(*rx.borrow_and_update());  // the latest; values in between may be skipped
///     }
/// });
/// tx.send(2);
/// ```
template <class T>
std::pair<sender<T>, receiver<T>> channel(T initial) {
    namespace chan = weft::detail::chan;
    chan::watch_ptr<T> shared(new chan::watch_state<T>(std::move(initial)));
    return {sender<T>(shared), receiver<T>(shared, 0)};
}

}  // namespace weft::watch
