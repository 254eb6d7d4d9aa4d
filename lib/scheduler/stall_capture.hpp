// stall_capture: the stack of the task that holds a worker, taken on the worker's own thread
// by a signal the blocked-worker monitor sends it (as Seastar's stall detector does), so the
// frames are those of the code that blocks, wherever it is.
//
// Invariants:
//   - phase moves idle -> requested (monitor) -> capturing -> done (handler) -> idle
//     (monitor), or requested -> idle (monitor, when no handler answered in time). Only the
//     side that made the last move touches pcs/n next: the handler writes them between its
//     requested -> capturing CAS and its done store; the monitor reads them after seeing
//     done and before storing idle. A late signal finds idle and does nothing.
//   - the handler allocates nothing and takes no lock: atomics (lock-free), the per-worker
//     buffer and capture_backtrace only.
//   - the monitor signals the worker's thread only while the worker's loop runs on it
//     (thread_mu, attach/detach), so the thread it names is alive.
#pragma once

#include <weft/task/task_id.hpp>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <vector>

namespace weft::detail {

class worker;

class stall_capture {
   public:
    /// Frames kept, plus the handler's own, which are dropped.
    static constexpr std::size_t slots = 48;

    /// The worker's loop starts / ends on the calling thread.
    void attach() noexcept;
    void detach() noexcept;

    /// Monitor thread: signals the worker's thread with `signo` and waits at most `limit` for
    /// the stack of task `id`, innermost frame (the interrupted instruction) first. Empty
    /// when the worker has no thread now, the task moved on, or nothing answered in time.
    std::vector<void*> request(int signo, task_id id, std::chrono::milliseconds limit);

    /// The signal handler's half, on the worker's thread (`running` is the worker's task
    /// now, `interrupted_at` the interrupted instruction). Async-signal-safe.
    void on_signal(task_id running, const void* interrupted_at) noexcept;

   private:
    enum phase_t : int { idle, requested, capturing, done };
    std::atomic<int> phase_{idle};
    std::atomic<task_id> for_task_{0};
    void* pcs_[slots] = {};
    std::size_t n_ = 0;

    std::mutex thread_mu_;
    pthread_t thread_{};
    bool has_thread_ = false;
};

/// Installs the process-wide handler for `signo` (once per signal number; it stays). False
/// when something else already handles `signo`: weft then leaves it alone.
bool install_stall_handler(int signo);

/// Whether weft's handler is the one installed for `signo` right now.
bool stall_handler_installed(int signo) noexcept;

}  // namespace weft::detail
