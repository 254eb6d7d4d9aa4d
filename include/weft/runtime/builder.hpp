// builder: configures and creates a runtime (Tokio's runtime::Builder).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <weft/fs/io_backend.hpp>
#include <weft/metrics.hpp>
#include <weft/net/io_backend.hpp>

namespace weft {

class runtime;

/// What happens to an exception that escapes a task when no join will observe it (the handle
/// was destroyed or detached). An abort's task_cancelled is never reported.
enum class unhandled_exception_policy {
    ignore,            ///< drop it silently
    log,               ///< one line on stderr naming the task and the exception (default)
    shutdown_runtime,  ///< shut the runtime down; block_on rethrows the exception
    terminate,         ///< log, then std::terminate
};

namespace detail {
struct runtime_config {
    bool multi_thread = true;
    std::size_t worker_threads = 0;  // 0: std::thread::hardware_concurrency()
    std::size_t max_blocking_threads = 512;
    std::chrono::nanoseconds thread_keep_alive = std::chrono::seconds(10);
    std::size_t stack_size = 256 * 1024;
    std::string thread_name = "weft-worker";
    std::function<void()> on_thread_start;
    std::function<void()> on_thread_stop;
    bool start_paused = false;
    std::optional<std::uint64_t> seed;
    unhandled_exception_policy unhandled = unhandled_exception_policy::log;
    std::chrono::nanoseconds blocking_warning_threshold = std::chrono::milliseconds(100);
    int stall_signal = -1;  // -1: SIGRTMIN + 3; 0: no stall backtraces
    std::function<void(const task_info&)> on_task_spawn;
    std::function<void(const task_info&)> on_task_terminate;
    fs::io_backend file_io = fs::io_backend::automatic;
    net::io_backend socket_io = net::io_backend::automatic;
    bool latency_histograms = false;
};
}  // namespace detail

/// Configures a runtime. Every setter validates its argument only in build(), which throws
/// std::invalid_argument naming the bad option.
///
/// ```cpp
/// weft::runtime rt = weft::builder::multi_thread()
///                        .worker_threads(2)
///                        .stack_size(128 * 1024)
///                        .thread_name("app-worker")
///                        .build();
/// // tests: virtual time, one thread, a reproducible order of ready tasks
/// weft::runtime t = weft::builder::current_thread().start_paused(true).seed(7).build();
/// ```
class builder {
   public:
    /// N worker threads, each with its own asio::io_context shard, sharing work by stealing.
    static builder multi_thread();
    /// Everything runs on the thread that calls block_on.
    static builder current_thread();

    builder& worker_threads(std::size_t n);        ///< >= 1; default hardware_concurrency()
    builder& max_blocking_threads(std::size_t n);  ///< >= 1; default 512
    builder& thread_keep_alive(std::chrono::nanoseconds d);  ///< idle blocking thread lifetime
    builder& stack_size(std::size_t bytes);  ///< fiber stacks, >= 16 KiB; default 256 KiB
    builder& thread_name(std::string name);  ///< default "weft-worker"
    /// Called on each worker and blocking-pool thread when it starts, before it runs anything.
    builder& on_thread_start(std::function<void()> f);
    /// Called on each worker and blocking-pool thread just before it exits.
    builder& on_thread_stop(std::function<void()> f);
    builder& start_paused(bool paused);  ///< virtual clock (see weft::time)
    builder& seed(std::uint64_t s);      ///< current_thread: seeded run order
    /// What to do with an exception of a task that no join observes (its join_handle was
    /// destroyed or detached): see unhandled_exception_policy. Default: log.
    builder& unhandled_exception(unhandled_exception_policy p);
    /// A task that holds a worker longer than this without suspending is reported once on
    /// stderr, naming the task and where it was last resumed (default 100 ms; 0 disables).
    /// The same monitor, sampling every half threshold, tells an idle worker of tasks queued
    /// behind a held one, so that they move.
    builder& blocking_warning_threshold(std::chrono::nanoseconds d);
    /// The signal the blocked-worker monitor sends a worker thread to read the stack of the
    /// task holding it, printed with the warning (default SIGRTMIN + 3; 0 turns the
    /// backtrace off, not the warning). It must be a real-time signal (SIGRTMIN..SIGRTMAX)
    /// that the program does not handle itself: weft installs its handler when the first
    /// runtime with this signal starts, and leaves a signal that already has a handler
    /// alone (then the warning comes without a backtrace). The signal interrupts the blocking
    /// code: a call Linux does not restart after a handler (`poll`, `select`, `epoll_wait`,
    /// `nanosleep`) fails with EINTR there (docs/notes/diagnostics.md).
    builder& stall_signal(int signo);
    /// Called on the spawning thread for every task spawned (tracing integrations). Keep it
    /// cheap and non-blocking; it must not spawn. An exception thrown by `f` fails that spawn:
    /// the spawn call throws it and the task never runs.
    builder& on_task_spawn(std::function<void(const task_info&)> f);
    /// Called on the thread that finished the task, once it ended (value, exception or
    /// cancelled), with state task_state::finished. An exception thrown by `f` is reported on
    /// stderr and otherwise ignored.
    builder& on_task_terminate(std::function<void(const task_info&)> f);

    /// How tasks' file calls (weft::fs) reach the kernel: a ring per worker, or the blocking
    /// pool (see fs::io_backend). Default automatic: io_uring where the build and the kernel
    /// allow it.
    builder& file_io(fs::io_backend b);
    /// How tasks' tcp_stream reads and writes reach the kernel: batched on a ring per worker,
    /// or through Asio's reactor (see net::io_backend). Default automatic: io_uring where the
    /// build and the kernel allow it.
    builder& socket_io(net::io_backend b);

    /// Keeps, per worker, histograms of schedule latency (runnable to running) and of run time
    /// per resumption (worker_metrics::schedule_latency and run_time, exported on the
    /// console's /metrics). Default off, as Tokio's poll-time histogram: each resumption then
    /// reads the clock twice and each wake once, a few percent on the scheduler's own
    /// benchmarks (docs/performance.md has the figures); off, that cost is one predictable
    /// branch.
    builder& latency_histograms(bool on);

    /// Creates the runtime. std::invalid_argument naming the bad option.
    [[nodiscard]] runtime build();

   private:
    builder() = default;
    detail::runtime_config cfg_;
    bool worker_threads_set_ = false;
};

}  // namespace weft
