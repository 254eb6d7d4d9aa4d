// weft::mutex: a fair mutex for tasks and threads (Tokio's sync::Mutex, without the data).
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>
#include <weft/sync/batch_semaphore.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>

#include <cstdint>
#include <mutex>
#include <source_location>
#include <tuple>

namespace weft {

/// A mutual-exclusion lock whose lock() suspends only the calling task (on a plain thread it
/// blocks the thread). Lockable: works with std::lock_guard, std::unique_lock and
/// std::scoped_lock. May be unlocked on another thread than the one that locked it (tasks
/// migrate between workers).
///
/// Fair: waiters are served in FIFO order and unlock() hands the lock to the first of them,
/// so a try_lock() right after such an unlock fails (no barging). Uncontended lock and
/// unlock are one atomic compare-and-swap each. Before it queues, a contended lock() spins
/// briefly while the holder is running, and while the lock is being handed down an existing
/// queue it waits aside until that queue has drained (then retries once and queues): this
/// keeps a queue from sustaining itself (a convoy, one task switch per lock) without ever
/// taking the lock past a queued waiter. See docs/notes/sync.md.
///
/// ```cpp
/// weft::mutex m;
/// weft::spawn([&] { std::lock_guard g(m); ++shared_count; });
/// ```
class mutex {
   public:
    mutex() noexcept
        : sem_(1) {}
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;

    /// Locks, suspending the task while another holder has it. A cooperative scheduling
    /// point: a task that keeps locking an uncontended mutex still yields now and then.
    /// Throws std::logic_error if it would have to wait on a worker thread outside a task
    /// (use async_lock there).
    /// **Cancellation**: cancel-safe. If the task is aborted while waiting, task_cancelled is
    /// thrown and the lock is not held; if the lock was handed to it meanwhile, it is passed
    /// on to the next waiter. An aborted task's later lock() throws at once. A select branch
    /// takes the lock only once it has won the select; a lock handed over as a timeout's
    /// deadline passes is kept (the next cancellation point throws).
    void lock(std::source_location where = std::source_location::current()) {
        // Gives back what the branch held before the budget's yield (select_claim.hpp:
        // begin_consuming), and is the claimer of the lock-free take.
        const detail::claim_record* claimer = detail::current_claimer();
        detail::consume_budget(where);
        if (!sem_.try_acquire_one()) {
            lock_contended(where);
        } else if (!sem_.claim_taken(claimer, 1, "mutex::lock", where)) {
            sem_.acquire_slow(1, "mutex::lock", where);  // refused, then reopened: again
        }
    }

    /// Locks if the mutex is free and nobody waits for it. Never suspends. In a select branch
    /// that lost the race, locks nothing (false).
    [[nodiscard]] bool try_lock() noexcept { return sem_.try_acquire_claimed(1); }

    /// Unlocks; with waiters queued, the first of them now holds the lock.
    void unlock() noexcept { sem_.release_one(); }

    /// Asio form of lock(): completes with `void(error_code, std::unique_lock<weft::mutex>)`,
    /// the unique_lock owning the lock. The handler runs on its associated executor (else on
    /// a weft worker) and never inside this call.
    /// **Cancellation**: terminal, partial and total cancellation through the handler's slot
    /// complete it with asio::error::operation_aborted and an empty unique_lock; the lock was
    /// never taken. A handler destroyed uninvoked releases the lock it was granted.
    template <class CompletionToken>
    auto async_lock(CompletionToken&& token) {
        return detail::async_lock_permits<std::unique_lock<mutex>>(
            sem_, 1, *this, std::forward<CompletionToken>(token));
    }

   private:
    void lock_contended(std::source_location where);

    detail::batch_semaphore sem_;
};

}  // namespace weft
