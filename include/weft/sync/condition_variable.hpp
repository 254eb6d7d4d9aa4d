// weft::condition_variable: waits on a weft::mutex for a condition (std::condition_variable's
// shape, suspending only the task).
#pragma once

#include <weft/detail/wait_list.hpp>
#include <weft/sync/mutex.hpp>

#include <mutex>
#include <source_location>

namespace weft {

/// A condition variable for weft::mutex. Waiters are queued in FIFO order; notify_one()
/// wakes the first, notify_all() every current waiter. A notification with nobody waiting
/// is lost (use weft::notify to store one). Wakes are not spurious, but other tasks may
/// change the condition before a woken waiter relocks, so wait in a loop (or use the
/// predicate overload).
///
/// ```cpp
/// std::unique_lock lk(m);
/// cv.wait(lk, [&] { return !queue.empty(); });
/// ```
class condition_variable {
   public:
    condition_variable() noexcept = default;
    condition_variable(const condition_variable&) = delete;
    condition_variable& operator=(const condition_variable&) = delete;

    /// Wakes the first waiter, if any.
    void notify_one() noexcept;
    /// Wakes every task waiting now.
    void notify_all() noexcept;

    /// Atomically unlocks `lk` and waits for a notification, then locks `lk` again.
    /// std::logic_error if `lk` does not own its mutex, or if it would have to wait on a
    /// worker thread outside a task.
    /// **Cancellation**: a cancellation point while waiting for the notification (a
    /// notify_one that reached an aborted waiter goes to the next waiter). Relocking is not
    /// a cancellation point: when wait throws task_cancelled, `lk` holds the mutex again.
    /// In a select branch, a notify_one is taken only by a branch that wins its select (one
    /// whose sibling holds the race passes it to the next waiter), and waiting holds no
    /// race, not even the one the branch's lock claimed.
    void wait(std::unique_lock<mutex>& lk,
              std::source_location where = std::source_location::current());

    /// `while (!pred()) wait(lk);`
    /// **Cancellation**: as the plain wait(): a cancellation point while waiting, `lk` holds the
    /// mutex again when task_cancelled is thrown, and `pred` is not evaluated after that.
    template <class Predicate>
    void wait(std::unique_lock<mutex>& lk, Predicate pred,
              std::source_location where = std::source_location::current()) {
        while (!pred()) wait(lk, where);
    }

   private:
    static constexpr std::uint32_t woken_all = detail::wait_status::user;
    detail::spin_lock mu_;
    detail::wait_list<detail::wait_node> waiters_;
};

}  // namespace weft
