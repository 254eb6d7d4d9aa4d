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

    /// Queues `t` (a blocking task) and starts a thread if none is idle.
    void spawn(task_header* t);
    /// Stops accepting work and waits until every thread exited or `deadline` passed.
    void shutdown(std::chrono::steady_clock::time_point deadline);

    [[nodiscard]] std::size_t threads() const;
    [[nodiscard]] std::size_t idle_threads() const;
    /// Jobs queued or running (for the paused clock: the runtime is not idle while >0).
    [[nodiscard]] std::size_t busy() const;

   private:
    void thread_main(std::shared_ptr<scheduler> keep);

    scheduler& sched_;
    const std::size_t max_threads_;
    const std::chrono::nanoseconds keep_alive_;
    mutable std::mutex mu_;
    std::condition_variable work_cv_;
    std::condition_variable exit_cv_;
    std::deque<task_header*> queue_;
    std::size_t threads_ = 0;
    std::size_t idle_ = 0;
    std::size_t running_ = 0;
    bool shutdown_ = false;
};

}  // namespace weft::detail
