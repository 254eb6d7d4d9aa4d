// Slow paths of batch_semaphore (see include/weft/sync/batch_semaphore.hpp for the state
// word and its invariants).
#include <weft/sync/batch_semaphore.hpp>

#include <algorithm>
#include <mutex>

namespace weft::detail {

std::uint32_t batch_semaphore::enqueue(permit_waiter& w) noexcept {
    std::lock_guard lk(mu_);
    std::size_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        if (s & closed_bit) return wait_status::closed;
        if (w.remaining == 0) return wait_status::granted;
        std::size_t avail = s >> shift;
        if (!(s & waiters_bit) && avail >= w.remaining) {
            // Another branch of its select holds the race: take nothing (it retries once the
            // race reopens).
            if (!w.try_claim()) return wait_status::refused;
            if (state_.compare_exchange_weak(s, s - (w.remaining << shift),
                                             std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
                w.remaining = 0;
                return wait_status::granted;
            }
            continue;
        }
        // With the waiters bit already set, avail is 0 and only mu_'s holders change the
        // word: just queue.
        if (s & waiters_bit) {
            waiters_.push_back(w);
            return wait_status::waiting;
        }
        // Not enough: take what there is and announce a waiter in the same CAS, so a
        // lock-free release either lands before (we see its permits on the retry) or sees
        // the waiters bit and comes here through mu_.
        if (state_.compare_exchange_weak(s, (s & flags_mask) | waiters_bit,
                                         std::memory_order_acquire, std::memory_order_relaxed)) {
            w.remaining -= avail;
            waiters_.push_back(w);
            return wait_status::waiting;
        }
    }
}

std::uint32_t batch_semaphore::acquire_slow(std::size_t n, const char* what,
                                            std::source_location where) {
    for (;;) {  // a refused select branch retries from here once the race reopens
        permit_waiter w(this, n);
        w.set_waker(current_waker(what));
        w.set_claimer(current_claimer());
        std::uint32_t s = enqueue(w);
        if (s == wait_status::waiting) {
            s = wait_for_grant(
                w, what, where, [&]() noexcept { return cancel(w); },
                [&](std::uint32_t st) noexcept {
                    // Granted as the task was aborted: everything goes to the next waiters.
                    if (st == wait_status::granted) release(n);
                });
        }
        if (s != wait_status::refused) return s;
        wait_reopened(what, where);  // took nothing
    }
}

bool batch_semaphore::wait_standby(const char* what, std::source_location where) {
    if (!(state_.load(std::memory_order_relaxed) & handed_bit)) return false;
    permit_waiter w(this, 0);
    w.set_waker(current_waker(what));
    {
        std::lock_guard lk(mu_);
        std::size_t s = state_.load(std::memory_order_relaxed);
        for (;;) {
            if (!(s & handed_bit)) return false;  // the chain ended meanwhile
            if (s & standby_bit) break;
            // From here on every release comes through mu_ and sees us.
            if (state_.compare_exchange_weak(s, s | standby_bit, std::memory_order_relaxed,
                                             std::memory_order_relaxed)) {
                break;
            }
        }
        standby_.push_back(w);
    }
    wait_for_grant(
        w, what, where, [&]() noexcept { return cancel_standby(w); },
        [](std::uint32_t) noexcept {});  // a standby waiter holds nothing
    return true;
}

bool batch_semaphore::cancel_standby(permit_waiter& w) noexcept {
    return withdraw_if_queued(mu_, w, [this](std::unique_lock<spin_lock>&) noexcept {
        if (standby_.empty()) state_.fetch_and(~standby_bit, std::memory_order_relaxed);
    });
}

bool batch_semaphore::cancel(permit_waiter& w) noexcept {
    return withdraw_if_queued(mu_, w, [this, &w](std::unique_lock<spin_lock>& lk) noexcept {
        std::size_t got = w.needed - w.remaining;
        w.remaining = w.needed;
        if (got != 0) {
            assign_locked(got, lk);  // clears the waiters bit if the list is now empty
        } else if (waiters_.empty()) {
            state_.fetch_and(~waiters_bit, std::memory_order_relaxed);
        }
    });
}

void batch_semaphore::release_slow(std::size_t n) noexcept {
    std::unique_lock lk(mu_);
    assign_locked(n, lk);
}

void batch_semaphore::assign_locked(std::size_t n, std::unique_lock<spin_lock>& lk) noexcept {
    wake_batch<32> wakes;
    bool handed = false;
    for (;;) {
        while (n != 0 && !waiters_.empty() && !wakes.full()) {
            permit_waiter& f = waiters_.front();
            std::size_t take = std::min(n, f.remaining);
            if (take == f.remaining && !f.try_claim()) {
                // Another branch of its select holds the race: what was set aside for it goes
                // on to the next waiters, and it is told `refused` (it retries once the race
                // reopens). `wakes` has room: checked above.
                n += f.needed - f.remaining;
                f.remaining = f.needed;
                waiters_.pop_front();
                wakes.grant(f, wait_status::refused);
                continue;
            }
            f.remaining -= take;
            n -= take;
            if (f.remaining == 0) {
                waiters_.pop_front();
                wakes.grant(f, wait_status::granted);
                handed = true;
            }
        }
        if (waiters_.empty()) {
            // Leftovers become available; nobody waits any more. A release that handed
            // nothing ends a hand-off chain: the standby waiters retry.
            bool wake_standby = !handed && !standby_.empty();
            std::size_t clear = waiters_bit | handed_bit | (wake_standby ? standby_bit : 0);
            std::size_t s = state_.load(std::memory_order_relaxed);
            while (!state_.compare_exchange_weak(
                s, ((s & ~clear) | (handed ? handed_bit : 0)) + (n << shift),
                std::memory_order_release, std::memory_order_relaxed)) {}
            if (wake_standby) {
                grant_all(standby_, lk, wait_status::granted);  // `wakes` is empty: no grant
                return;
            }
            break;
        }
        if (handed && !(state_.load(std::memory_order_relaxed) & handed_bit)) {
            // Waiters remain, so only mu_'s holders change the word now.
            state_.fetch_or(handed_bit, std::memory_order_relaxed);
        }
        if (n == 0) break;
        // The batch is full and permits are left for more waiters: wake these first. The
        // waiters bit stays set, so nobody takes permits past the queue meanwhile.
        lk.unlock();
        wakes.flush();
        lk.lock();
    }
    lk.unlock();
    wakes.flush();
}

void batch_semaphore::close() noexcept {
    std::unique_lock lk(mu_);
    std::size_t s = state_.load(std::memory_order_relaxed);
    while (!state_.compare_exchange_weak(s, (s | closed_bit) & ~(waiters_bit | standby_bit),
                                         std::memory_order_acq_rel, std::memory_order_relaxed)) {}
    // Standby waiters hold nothing; they see `closed` and retry (only a mutex uses standby,
    // and a mutex is never closed).
    standby_.splice_to(waiters_);
    // Waiters end with `closed`; permits already assigned to them become available again.
    grant_all(waiters_, lk, wait_status::closed, [this](permit_waiter& w) noexcept {
        std::size_t got = w.needed - w.remaining;
        w.remaining = w.needed;
        if (got != 0) state_.fetch_add(got << shift, std::memory_order_release);
    });
}

}  // namespace weft::detail
