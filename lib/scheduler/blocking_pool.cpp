#include "blocking_pool.hpp"

#include "scheduler.hpp"
#include "thread_context.hpp"

#include <pthread.h>

#include <thread>

namespace weft::detail {

blocking_pool::blocking_pool(scheduler& s, std::size_t max_threads,
                             std::chrono::nanoseconds keep_alive)
    : sched_(s), max_threads_(max_threads), keep_alive_(keep_alive) {}

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
        work_cv_.notify_one();
        return;
    }
    if (threads_ >= max_threads_) return;  // a busy thread takes it when it is free
    ++threads_;
    // The thread keeps the scheduler alive: it may outlive a shutdown deadline.
    std::shared_ptr<scheduler> keep = sched_.shared_from_this();
    lock.unlock();
    std::thread th([this, keep = std::move(keep)]() mutable { thread_main(std::move(keep)); });
    th.detach();
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
            std::uint32_t s = t->state_.load(std::memory_order_acquire);
            while (!(s & st::cancelled) &&
                   !t->state_.compare_exchange_weak(
                       s, (s & ~st::scheduled) | st::running | st::started,
                       std::memory_order_acq_rel, std::memory_order_acquire)) {
            }
            if (s & st::cancelled) {
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
        bool woke = work_cv_.wait_for(lock, keep_alive_,
                                      [&] { return !queue_.empty() || shutdown_; });
        --idle_;
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
