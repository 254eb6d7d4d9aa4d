// notify: the locked paths (see include/weft/sync/notify.hpp for the state word).
#include <weft/sync/notify.hpp>

#include <mutex>

namespace weft {

void notify::wait_from(std::uint64_t calls, std::source_location where) {
    detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
    detail::consume_budget(where);
    for (;;) {
        if (wait_once(calls, where)) return;
        // Another branch of this task's select holds the race: nothing was taken.
        detail::wait_reopened("notify::notified", where);
    }
}

std::uint32_t notify::take_permit(const detail::claim_record* claimer) noexcept {
    if (!try_take_permit()) return detail::wait_status::waiting;
    if (detail::claim_select(claimer)) return detail::wait_status::granted;
    notify_one();  // refused: the permit goes back (or to a waiter)
    return detail::wait_status::refused;
}

bool notify::wait_once(std::uint64_t calls, std::source_location where) {
    if ((state_.load(std::memory_order_acquire) >> calls_shift) != calls) return true;
    const detail::claim_record* claimer = detail::current_claimer();
    if (std::uint32_t s = take_permit(claimer); s != detail::wait_status::waiting) {
        return s == detail::wait_status::granted;
    }
    waiter_node w(this);
    w.set_waker(detail::current_waker("notify::notified"));
    w.set_claimer(claimer);
    std::uint32_t s = enqueue(w, calls);
    if (s != detail::wait_status::waiting) return s != detail::wait_status::refused;
    s = detail::wait_for_grant(
        w, "notify::notified", where, [&]() noexcept { return cancel(w); },
        [&](std::uint32_t s) noexcept {
            // A notify_one that reached an aborted waiter is forwarded: to the next waiter,
            // or stored as the permit. A notify_waiters (or a refusal) needs nothing.
            if (s == detail::wait_status::granted) notify_one();
        });
    return s != detail::wait_status::refused;
}

std::uint32_t notify::notified_operation::start(const detail::claim_record* rec,
                                                const detail::waker& w) {
    notify& n = *owner_;
    if ((n.state_.load(std::memory_order_acquire) >> calls_shift) != calls_) return woken_all;
    if (std::uint32_t s = n.take_permit(rec); s != detail::wait_status::waiting) return s;
    waiter_node& node = node_.emplace(&n);
    node.set_waker(w.clone());
    node.set_claimer(rec);
    return n.enqueue(node, calls_);
}

std::uint32_t notify::enqueue(waiter_node& w, std::uint64_t calls) noexcept {
    std::lock_guard lk(mu_);
    // The calls counter only changes under mu_, so this check and the queueing below are
    // atomic with respect to notify_waiters.
    std::uint64_t s = state_.load(std::memory_order_acquire);
    if ((s >> calls_shift) != calls) return woken_all;
    for (;;) {
        switch (s & state_mask) {
            case empty:
                if (state_.compare_exchange_weak(s, (s & ~state_mask) | waiting,
                                                 std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
                    waiters_.push_back(w);
                    return detail::wait_status::waiting;
                }
                break;
            case waiting:
                waiters_.push_back(w);
                return detail::wait_status::waiting;
            default:  // a stored permit: take it
                // Another branch of its select holds the race: leave it stored.
                if (!w.try_claim()) return detail::wait_status::refused;
                if (state_.compare_exchange_weak(s, s & ~state_mask, std::memory_order_acquire,
                                                 std::memory_order_acquire)) {
                    return detail::wait_status::granted;
                }
                break;
        }
    }
}

bool notify::cancel(waiter_node& w) noexcept {
    // Unlinked from waiters_, or from a notify_waiters batch in progress.
    return detail::withdraw_if_queued(
        mu_, w, [this](std::unique_lock<detail::spin_lock>&) noexcept {
            if (!waiters_.empty()) return;
            std::uint64_t s = state_.load(std::memory_order_relaxed);
            // While `waiting`, only holders of mu_ change the word.
            if ((s & state_mask) == waiting)
                state_.store(s & ~state_mask, std::memory_order_relaxed);
        });
}

void notify::notify_one() noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while ((s & state_mask) != waiting) {
        // Nobody waits: store the permit (a second one merges with the first).
        // Ordering: release pairs with the acquire of whoever consumes it.
        if (state_.compare_exchange_weak(s, (s & ~state_mask) | notified_state,
                                         std::memory_order_release, std::memory_order_relaxed)) {
            return;
        }
    }
    detail::wake_batch<1> wakes;  // declared first: flushed after the lock is released
    std::unique_lock lk(mu_);
    s = state_.load(std::memory_order_relaxed);
    while ((s & state_mask) != waiting) {
        if (state_.compare_exchange_weak(s, (s & ~state_mask) | notified_state,
                                         std::memory_order_release, std::memory_order_relaxed)) {
            return;
        }
    }
    // Waiters whose select race another branch holds: dequeued here, told `refused` below
    // (they retry once their race reopens); the notification goes on to the next waiter, or
    // is stored when nobody is left.
    detail::wait_list<waiter_node> refused;
    waiter_node* w = detail::pop_first_claimed(waiters_, refused);
    if (waiters_.empty()) {
        s &= ~state_mask;
        state_.store(s, std::memory_order_relaxed);
    }
    if (w) {
        wakes.grant(*w, detail::wait_status::granted);
    } else {
        // Nobody got it, so nobody waits now and the word is empty or (a lock-free notify_one
        // meanwhile) notified: store the permit (merging). Ordering: release pairs with the
        // consumer's acquire.
        state_.fetch_or(notified_state, std::memory_order_release);
    }
    // A refused node may still withdraw itself (cancel() unlinks it from this list under
    // mu_); grant_all releases mu_ between batches and on return.
    if (!refused.empty()) detail::grant_all(refused, lk, detail::wait_status::refused);
}

void notify::notify_waiters() noexcept {
    std::unique_lock lk(mu_);
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        // Bump the calls counter; the list is emptied below, so `waiting` becomes `empty`; a
        // stored permit stays stored.
        std::uint64_t next = s + (std::uint64_t{1} << calls_shift);
        if ((s & state_mask) == waiting) next &= ~state_mask;
        if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
            break;
        }
    }
    if (waiters_.empty()) return;
    detail::grant_all(waiters_, lk, woken_all);
}

}  // namespace weft
