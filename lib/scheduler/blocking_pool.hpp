// blocking_pool: threads for spawn_blocking (and, later, offload and fs). Grown on demand up
// to max_blocking_threads; a thread idle for thread_keep_alive exits. At shutdown, jobs that
// have not started are cancelled; running ones are waited for until the shutdown deadline,
// after which their threads are left detached (they keep the runtime's state alive).
#pragma once

#include <weft/detail/task_header.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

namespace weft::detail {

class scheduler;

class blocking_pool {
   public:
    blocking_pool(scheduler& s, std::size_t max_threads, std::chrono::nanoseconds keep_alive);
    blocking_pool(const blocking_pool&) = delete;
    blocking_pool& operator=(const blocking_pool&) = delete;

    /// Queues `t` (a blocking task) and hands it to an idle thread, or starts one below the
    /// cap. Either the pool owns `t` afterwards (it runs, or shutdown cancels it) or this
    /// throws std::system_error ("weft: could not start a blocking-pool thread") and `t` is
    /// not queued: no thread could be started and none exists to run it later.
    void spawn(task_header* t);
    /// Stops accepting work and waits until every thread exited or `deadline` passed.
    void shutdown(std::chrono::steady_clock::time_point deadline);

    [[nodiscard]] std::size_t threads() const;
    [[nodiscard]] std::size_t idle_threads() const;
    /// Jobs queued or running (for the paused clock: the runtime is not idle while >0).
    [[nodiscard]] std::size_t busy() const;

   private:
    void thread_main(std::shared_ptr<scheduler> keep);
    /// Starts one thread; undoes the `++threads_` its caller made (under mu_) when it fails.
    void start_thread(std::unique_lock<std::mutex>& lock, task_header* t);
    /// Hands one queued job to an idle thread (mu_ held, idle_ > 0).
    void notify_idle_locked();

    scheduler& sched_;
    const std::size_t max_threads_;
    const std::chrono::nanoseconds keep_alive_;
    mutable std::mutex mu_;
    std::condition_variable work_cv_;
    std::condition_variable exit_cv_;
    std::deque<task_header*> queue_;
    std::size_t threads_ = 0;
    std::size_t idle_ = 0;
    std::size_t notified_ = 0;
    std::size_t running_ = 0;
    bool shutdown_ = false;
};

}  // namespace weft::detail
