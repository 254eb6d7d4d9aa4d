// condition_variable: queue under the cv's lock before unlocking the mutex, so a notify made
// after (or while) the waiter releases the mutex cannot be missed.
#include <weft/sync/condition_variable.hpp>
#include <weft/task/this_task.hpp>

#include <stdexcept>

namespace weft {

namespace {
// Relocking is not a cancellation point (docs/conventions.md): shielded, so an abort waits for the
// lock.
void relock(std::unique_lock<mutex>& lk, std::source_location where) {
    this_task::shield s;
    mutex* m = lk.mutex();
    m->lock(where);
    lk = std::unique_lock<mutex>(*m, std::adopt_lock);
}
}  // namespace

void condition_variable::wait(std::unique_lock<mutex>& lk, std::source_location where) {
    if (!lk.owns_lock()) {
        throw std::logic_error("weft::condition_variable::wait: the lock does not own its mutex");
    }
    detail::throw_if_cancelled();
    detail::wait_node w;
    w.set_waker(detail::current_waker("condition_variable::wait"));
    {
        std::lock_guard g(mu_);
        waiters_.push_back(w);
    }
    lk.unlock();
    try {
        detail::wait_for_grant(
            w, "condition_variable::wait", where,
            [&]() noexcept { return detail::withdraw_if_queued(mu_, w); },
            [&](std::uint32_t s) noexcept {
                // A notify_one that chose an aborted waiter goes to the next one instead.
                if (s == detail::wait_status::granted) notify_one();
            });
    } catch (...) {
        relock(lk, where);
        throw;
    }
    relock(lk, where);
}

void condition_variable::notify_one() noexcept {
    detail::wake_batch<1> wakes;
    std::lock_guard g(mu_);
    if (waiters_.empty()) return;
    wakes.grant(waiters_.pop_front(), detail::wait_status::granted);
}

void condition_variable::notify_all() noexcept {
    std::unique_lock lk(mu_);
    if (waiters_.empty()) return;
    detail::grant_all(waiters_, lk, woken_all);
}

}  // namespace weft
