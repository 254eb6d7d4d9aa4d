// barrier: a count and a list under one spin_lock. The leader moves the whole generation out
// of the list (grant_all), so waiters of the next generation queue in an empty list.
#include <weft/sync/barrier.hpp>

#include <mutex>

namespace weft {

bool barrier::arrive(waiter_node& w) noexcept {
    std::unique_lock lk(mu_);
    if (++arrived_ == n_) {
        arrived_ = 0;
        if (waiters_.empty()) return true;
        detail::grant_all(waiters_, lk, detail::wait_status::granted);
        return true;
    }
    waiters_.push_back(w);
    return false;
}

bool barrier::cancel(waiter_node& w) noexcept {
    // The arrival stays counted: barrier::wait is not cancel-safe.
    return detail::withdraw_if_queued(mu_, w);
}

bool barrier::wait(std::source_location where) {
    detail::consume_budget(where);
    waiter_node w(this);
    w.set_waker(detail::current_waker("barrier::wait"));
    if (arrive(w)) return true;
    detail::wait_for_grant(
        w, "barrier::wait", where, [&]() noexcept { return cancel(w); },
        [](std::uint32_t) noexcept {});  // the generation was released: nothing to hand on
    return false;
}

}  // namespace weft
