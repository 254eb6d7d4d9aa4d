// task_tracker: a count of tracked tasks, a closed bit, and the waiters for "closed and empty".
//
// State: one atomic word, `count << 1 | closed` (Tokio-util's layout), so a task's end is one
// RMW and never takes the lock unless it may finish a wait. Tokens add and remove 2; close()
// and reopen() flip bit 0. The word reads "done" (== closed, i.e. 1) when the tracker is
// closed and empty.
//
// Waiters: tasks queue a node (on their stack) in `waiters`; plain threads wait on `cv`. Both
// are guarded by `mu`, as is `generation`, which counts notifications so a thread sees one that
// happened even if the word changed again before it woke (Tokio returns from wait() once it
// was notified, not only while the state still holds).
//
// No lost wake-up: whoever moves the word to done (the last token of a closed tracker, or
// close() of an empty one) then takes `mu` and notifies everyone queued. A waiter checks the
// word and queues itself in one critical section under `mu`. If the notifier's critical
// section comes first, the waiter's acquire of `mu` happens after the notifier's RMW, so its
// load sees done (or a later value, whose own transition to done will notify it again); if
// the waiter's comes first, the notifier finds its node or, for a thread, notifies the cv
// after it has started waiting (it released `mu` only inside cv.wait).
//
// Waking under `mu`: a notified node is unlinked and woken under the lock, and its owner reads
// "unlinked" under the same lock before it returns, so the notifier never touches a node whose
// frame is gone. Locking order: tracker `mu` -> scheduler (wake); the scheduler never calls into
// a tracker with its own locks held (tokens are released by the task's callable destructor,
// outside them).
#include <weft/detail/assert.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/task_header.hpp>
#include <weft/detail/timer.hpp>
#include <weft/task/task_tracker.hpp>

#include <boost/intrusive/list.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace weft {
namespace detail {

namespace {
constexpr std::uint64_t closed_bit = 1;
constexpr std::uint64_t one_task = 2;

struct tracker_waiter
    : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
    waker w;
};
using waiter_list =
    boost::intrusive::list<tracker_waiter, boost::intrusive::constant_time_size<false>>;
}  // namespace

class task_tracker_state {
   public:
    std::atomic<std::uint64_t> word{0};
    std::mutex mu;
    waiter_list waiters;           // guarded by mu
    std::condition_variable cv;    // plain-thread waiters, with mu
    std::uint64_t generation = 0;  // guarded by mu: notifications so far

    [[nodiscard]] bool done() const noexcept {
        // Ordering: acquire pairs with the acq_rel RMW of the last token (tracker_remove), so
        // a waiter that sees done also sees everything the tracked tasks did.
        return word.load(std::memory_order_acquire) == closed_bit;
    }

    void notify_all() noexcept {
        {
            std::lock_guard lock(mu);
            ++generation;
            while (!waiters.empty()) {
                tracker_waiter& n = waiters.front();
                waiters.pop_front();
                n.w.wake_by_ref();  // see the file comment: under mu, the node is still alive
            }
        }
        cv.notify_all();
    }
};

void tracker_add(task_tracker_state& s) noexcept {
    // Ordering: relaxed: a new token publishes nothing; its release does (tracker_remove).
    s.word.fetch_add(one_task, std::memory_order_relaxed);
}

void tracker_remove(task_tracker_state& s) noexcept {
    // Ordering: acq_rel: release publishes this task's writes to the waiter that acquires the
    // word (done()); acquire orders it after the other tasks' releases, so the last one
    // carries them all.
    std::uint64_t prev = s.word.fetch_sub(one_task, std::memory_order_acq_rel);
    WEFT_INVARIANT(prev >= one_task, "a task_tracker token is released once");
    if (prev == (one_task | closed_bit)) s.notify_all();
}

}  // namespace detail

task_tracker::task_tracker()
    : s_(std::make_shared<detail::task_tracker_state>()) {}

bool task_tracker::close() noexcept {
    // Ordering: acq_rel, as tracker_remove: a waiter that sees done after close() of an empty
    // tracker also sees what the tasks that ended before did (their releases are acquired).
    std::uint64_t prev = s_->word.fetch_or(detail::closed_bit, std::memory_order_acq_rel);
    if (prev & detail::closed_bit) return false;
    if (prev == 0) s_->notify_all();
    return true;
}

bool task_tracker::reopen() noexcept {
    std::uint64_t prev = s_->word.fetch_and(~detail::closed_bit, std::memory_order_acq_rel);
    return (prev & detail::closed_bit) != 0;
}

bool task_tracker::is_closed() const noexcept {
    return (s_->word.load(std::memory_order_acquire) & detail::closed_bit) != 0;
}

std::size_t task_tracker::len() const noexcept {
    return static_cast<std::size_t>(s_->word.load(std::memory_order_acquire) >> 1);
}

bool task_tracker::is_empty() const noexcept { return len() == 0; }

void task_tracker::wait(std::source_location where) const { wait_impl(nullptr, where); }

bool task_tracker::wait_until(std::chrono::steady_clock::time_point deadline,
                              std::source_location where) const {
    if (deadline == std::chrono::steady_clock::time_point::max()) return wait_impl(nullptr, where);
    return wait_impl(&deadline, where);
}

bool task_tracker::wait_impl(const std::chrono::steady_clock::time_point* deadline,
                             std::source_location where) const {
    using namespace detail;
    task_tracker_state& s = *s_;
    task_header* self = current_task();

    if (!self) {
        // A plain thread (or a blocking-pool thread): the tracker's own condition variable,
        // which can wait with a deadline. The deadline is on the runtime clock, which a thread
        // outside the runtime reads as steady_clock; convert it to real time from now.
        check_may_block("weft::task_tracker::wait");
        std::unique_lock lock(s.mu);
        const std::uint64_t seen = s.generation;
        auto notified = [&] { return s.generation != seen || s.done(); };
        if (!deadline) {
            s.cv.wait(lock, notified);
            return true;
        }
        auto left = *deadline - clock_now();
        return s.cv.wait_until(lock, std::chrono::steady_clock::now() + left, notified);
    }

    if (s.done()) {
        consume_budget(where);  // ready: still a cancellation point, and it may yield
        return true;
    }
    throw_if_cancelled();
    tracker_waiter node;
    node.w = current_waker("weft::task_tracker::wait");
    // The deadline wakes this task through its own timer (disarmed by its destructor on every
    // way out of this function).
    timer tm;
    if (deadline) tm.arm(*deadline, waker(self));
    std::unique_lock lock(s.mu);
    if (s.done()) return true;
    s.waiters.push_back(node);
    for (;;) {
        // Unlinked by notify_all: woken because the tracker became closed and empty.
        if (!node.is_linked()) return true;
        if (deadline && tm.fired()) {
            node.unlink();
            return false;
        }
        if (cancellation_requested()) {
            node.unlink();  // nothing was granted, nothing to pass on
            lock.unlock();
            throw_if_cancelled();  // throws: it asks what cancellation_requested() did
            lock.lock();
            if (s.done()) return true;  // not reached while the cancellation stays
            s.waiters.push_back(node);
            continue;
        }
        lock.unlock();
        park("task_tracker::wait", where);
        lock.lock();
    }
}

}  // namespace weft
