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
    try {
        for (;;) {  // a refused select branch waits again once its race reopens
            detail::wait_node w;
            w.set_waker(detail::current_waker("condition_variable::wait"));
            // A notify_one is taken by one waiter, so a select branch claims for it
            // (notify_one) and a loser takes none. current_claimer() also gives back the claim
            // of the lock the branch took: waiting holds no race, or a sibling could never
            // win while this branch waits.
            w.set_claimer(detail::current_claimer());
            {
                std::lock_guard g(mu_);
                waiters_.push_back(w);
            }
            lk.unlock();
            std::uint32_t s = detail::wait_for_grant(
                w, "condition_variable::wait", where,
                [&]() noexcept { return detail::withdraw_if_queued(mu_, w); },
                [&](std::uint32_t st) noexcept {
                    // A notify_one that chose an aborted waiter goes to the next one instead.
                    if (st == detail::wait_status::granted) notify_one();
                });
            if (s != detail::wait_status::refused) break;
            // Refused: another branch holds the race, and the notification went on. Wait for
            // the race without the mutex, which the holder may need.
            detail::wait_reopened("condition_variable::wait", where);
            relock(lk, where);
        }
    } catch (...) {
        if (!lk.owns_lock()) relock(lk, where);
        throw;
    }
    relock(lk, where);
}

void condition_variable::notify_one() noexcept {
    detail::wake_batch<1> wakes;  // declared first: flushed after the lock is released
    std::unique_lock lk(mu_);
    // Waiters whose select race another branch holds: dequeued, told `refused` below (they
    // wait again once their race reopens); the notification goes on to the next waiter, and is
    // lost, as any notification with nobody waiting, when none is left.
    detail::wait_list<detail::wait_node> refused;
    if (detail::wait_node* w = detail::pop_first_claimed(waiters_, refused)) {
        wakes.grant(*w, detail::wait_status::granted);
    }
    // A refused node may still withdraw itself (its wait's withdraw unlinks it from this list
    // under mu_); grant_all releases mu_ between batches and on return.
    if (!refused.empty()) detail::grant_all(refused, lk, detail::wait_status::refused);
}

void condition_variable::notify_all() noexcept {
    std::unique_lock lk(mu_);
    if (waiters_.empty()) return;
    detail::grant_all(waiters_, lk, woken_all);
}

}  // namespace weft
