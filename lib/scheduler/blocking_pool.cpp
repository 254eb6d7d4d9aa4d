// The blocking pool's bookkeeping. Every field below is guarded by mu_.
//
// Invariants:
// - threads_: threads started and not yet exited, plus starts in progress. spawn counts a
//   thread before constructing it (so concurrent spawns cannot overshoot max_threads_) and
//   takes the count back if the start fails; a thread takes itself off as it exits. Whoever
//   brings it to 0 notifies exit_cv_ (shutdown waits for 0).
// - idle_: threads waiting in work_cv_ that no spawn has claimed. A thread adds itself
//   before it waits. A spawn that hands its job to an idle thread moves one from idle_ to
//   notified_ at once, not when the thread wakes up: otherwise every spawn of a burst saw
//   the same still-sleeping thread as idle, notified it again instead of starting a thread,
//   and a job waited in the queue behind a running job although the pool was below its cap
//   (a deadlock when job A waits for job B). A thread that leaves the wait unclaimed
//   (keep-alive expired, shutdown) takes itself off idle_.
// - notified_: claims made by spawns and not yet taken up (Tokio's num_notify). A thread
//   leaving the wait takes one if any is pending, whether or not the signal was meant for
//   it: claims are interchangeable. A signal that arrives after another thread took the
//   claim finds notified_ == 0 and the thread waits on, still counted in idle_. So
//   idle_ + notified_ is the number of threads inside the wait.
// - running_: jobs being run (busy()).
// - A queued job always has a thread that will take it: a claimed idle thread, a running
//   thread (it empties the queue before it waits), or one being started. When a start fails
//   and no thread exists, the spawner takes its job back and throws; jobs that other spawns
//   queued meanwhile, counting on that thread, are completed with the same error (their
//   join reports it), never left queued with nobody to run them.
#include "blocking_pool.hpp"

#include "scheduler.hpp"
#include "thread_context.hpp"

#include <weft/detail/fault_injection.hpp>

#include <pthread.h>

#include <algorithm>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

namespace weft::detail {

blocking_pool::blocking_pool(scheduler& s, std::size_t max_threads,
                             std::chrono::nanoseconds keep_alive)
    : sched_(s),
      max_threads_(max_threads),
      keep_alive_(keep_alive) {}

void blocking_pool::spawn(task_header* t) {
    std::unique_lock lock(mu_);
    if (shutdown_) {
        lock.unlock();
        t->drop_callable();
        t->outcome_ = outcome::cancelled;
        sched_.finish(t);
        return;
    }
    queue_.push_back(t);
    if (idle_ > 0) {
        notify_idle_locked();
        return;
    }
    if (threads_ >= max_threads_) return;  // a running thread takes it when it is free
    ++threads_;
    start_thread(lock, t);
}

void blocking_pool::notify_idle_locked() {
    --idle_;
    ++notified_;
    work_cv_.notify_one();
}

void blocking_pool::start_thread(std::unique_lock<std::mutex>& lock, task_header* t) {
    // The thread keeps the scheduler alive: it may outlive a shutdown deadline.
    std::shared_ptr<scheduler> keep = sched_.shared_from_this();
    lock.unlock();
    std::error_code failed;
    try {
        if (fault::hit(fault::point::thread_create)) fault::fail(fault::point::thread_create);
        std::thread th([this, keep]() mutable { thread_main(std::move(keep)); });
        th.detach();
        return;
    } catch (const std::system_error& e) {
        failed = e.code();  // EAGAIN: out of threads or memory for a stack
    } catch (const std::bad_alloc&) {
        failed = std::make_error_code(std::errc::not_enough_memory);
    }
    lock.lock();
    --threads_;
    if (threads_ == 0) exit_cv_.notify_all();
    auto it = std::find(queue_.begin(), queue_.end(), t);
    if (it == queue_.end()) return;  // a thread took it, or shutdown cancelled it: it is ours
    if (threads_ > 0) {
        // Every other thread is running or being started (an idle one would have been
        // claimed), and each empties the queue before it waits: the job stays queued.
        if (idle_ > 0) notify_idle_locked();
        return;
    }
    queue_.erase(it);
    std::deque<task_header*> stranded;
    stranded.swap(queue_);  // queued meanwhile by spawns that counted on this thread
    lock.unlock();
    std::system_error error(failed, "weft: could not start a blocking-pool thread");
    for (task_header* j : stranded) {
        j->drop_callable();
        j->exception_ = std::make_exception_ptr(error);
        j->outcome_ = outcome::exception;
        sched_.finish(j);
    }
    throw error;
}

void blocking_pool::thread_main(std::shared_ptr<scheduler> keep) {
    thread_context_scope scope(&sched_, nullptr);
    ::pthread_setname_np(::pthread_self(), "weft-blocking");
    if (sched_.config().on_thread_start) sched_.config().on_thread_start();
    std::unique_lock lock(mu_);
    for (;;) {
        while (!queue_.empty()) {
            task_header* t = queue_.front();
            queue_.pop_front();
            ++running_;
            lock.unlock();
            if (!t->state_.try_transition_to_started()) {  // aborted before it started
                t->drop_callable();
                t->outcome_ = outcome::cancelled;
            } else {
                t->run();
            }
            sched_.finish(t);
            lock.lock();
            --running_;
            if (sched_.is_paused()) {
                // A paused clock may now jump: let a parked worker look again.
                lock.unlock();
                sched_.worker_at(0).unpark();
                lock.lock();
            }
        }
        if (shutdown_) break;
        ++idle_;
        bool woke =
            work_cv_.wait_for(lock, keep_alive_, [&] { return notified_ > 0 || shutdown_; });
        if (notified_ > 0) {
            // A spawn claimed an idle thread for its job (and already took it off idle_):
            // this one serves the claim, whichever thread the signal was meant for.
            --notified_;
            continue;
        }
        --idle_;           // leaving the wait unclaimed
        if (!woke) break;  // kept alive long enough with nothing to do
    }
    --threads_;
    bool last = threads_ == 0;
    lock.unlock();
    if (sched_.config().on_thread_stop) sched_.config().on_thread_stop();
    if (last) exit_cv_.notify_all();
    // `keep` is released here, possibly destroying the scheduler after a timed-out shutdown.
    lock.release();
    keep.reset();
}

void blocking_pool::shutdown(std::chrono::steady_clock::time_point deadline) {
    std::deque<task_header*> dropped;
    {
        std::unique_lock lock(mu_);
        shutdown_ = true;
        dropped.swap(queue_);
        work_cv_.notify_all();
    }
    for (task_header* t : dropped) {
        t->drop_callable();
        t->outcome_ = outcome::cancelled;
        sched_.finish(t);
    }
    std::unique_lock lock(mu_);
    exit_cv_.wait_until(lock, deadline, [&] { return threads_ == 0; });
}

std::size_t blocking_pool::threads() const {
    std::lock_guard lock(mu_);
    return threads_;
}

std::size_t blocking_pool::idle_threads() const {
    std::lock_guard lock(mu_);
    return idle_;
}

std::size_t blocking_pool::busy() const {
    std::lock_guard lock(mu_);
    return running_ + queue_.size();
}

}  // namespace weft::detail
