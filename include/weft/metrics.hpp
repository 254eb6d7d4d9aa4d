// Introspection types: runtime_metrics (counters, cheap enough to leave on) and task_info
// (one live task, as runtime::dump() reports it).
#pragma once

#include <weft/task/task_id.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

/// Counters of one worker, since the runtime started.
struct worker_metrics {
    std::uint64_t polls = 0;             ///< task resumptions run by this worker
    std::uint64_t steals = 0;            ///< tasks taken from other workers' queues
    std::uint64_t steal_operations = 0;  ///< successful steal attempts
    std::uint64_t parks = 0;             ///< times the worker went idle
    std::uint64_t overflows = 0;         ///< local queue overflows into the global queue
    std::size_t local_queue_depth = 0;   ///< tasks in the local queue now
    std::chrono::nanoseconds busy{0};    ///< time spent not parked
};

/// Counters of a whole runtime (runtime::metrics()), cheap enough to leave on. Each field is
/// read without stopping the workers, so fields may be mutually a little out of date.
struct runtime_metrics {
    /// Worker threads (1 for a current_thread runtime).
    std::size_t workers = 0;
    /// Tasks spawned and not yet finished, including suspended ones.
    std::size_t alive_tasks = 0;
    /// Tasks waiting in the global (inject) queue now.
    std::size_t global_queue_depth = 0;
    /// Threads of the blocking pool now (running or idle).
    std::size_t blocking_threads = 0;
    /// Blocking-pool threads waiting for a job now.
    std::size_t idle_blocking_threads = 0;
    /// Tasks spawned since the runtime started (blocking jobs included).
    std::uint64_t spawned_tasks = 0;
    /// One entry per worker, in worker order.
    std::vector<worker_metrics> per_worker;
};

/// Where a live task is in its life (task_info::state): `scheduled` (queued to run, or not
/// yet started), `running` (on a worker now), `suspended` (parked in a waiting call; see
/// task_info::waiting_on), `finished` (ended; about to be freed).
enum class task_state { scheduled, running, suspended, finished };

/// One live task, as runtime::dump() reports it.
struct task_info {
    /// The task's id (this_task::id() inside it).
    task_id id = 0;
    /// The name given with task_builder::name; empty if none.
    std::string name;
    /// Where the task was spawned.
    std::source_location spawned_at;
    /// Its state when the dump was taken.
    task_state state = task_state::scheduled;
    std::string_view waiting_on;  ///< static storage: "sleep", "mpsc::recv", "join", "io", ...
    /// Where it is suspended: exact for weft calls that take a trailing std::source_location
    /// (every suspending call but the variadic join/select), otherwise the nearest weft entry
    /// point (e.g. through std::lock_guard).
    std::source_location suspended_at;
    /// Only in a dump taken with `weft::with_backtraces`, for a suspended task: its stack
    /// where it parked, innermost frame first, one `#i function at file:line` line per frame
    /// (at most dump_backtrace_frames; the first few are weft's own park path, then the
    /// task's code). When its stack could not be read, a single line in parentheses says why
    /// (woken meanwhile, over dump_backtrace_tasks, too little stack left, unsupported
    /// platform). Empty otherwise.
    std::vector<std::string> backtrace;
};

/// Tag type of weft::with_backtraces.
struct with_backtraces_t {
    /// Explicit, so `{}` does not pick the overload by accident.
    explicit with_backtraces_t() = default;
};
/// Asks runtime::dump for the stack of every suspended task (task_info::backtrace):
/// `rt.dump(weft::with_backtraces)`.
inline constexpr with_backtraces_t with_backtraces{};

/// Frames kept per task in a dump with backtraces (the innermost ones).
inline constexpr std::size_t dump_backtrace_frames = 32;
/// Suspended tasks whose stacks one dump with backtraces reads (in task-id order); the others
/// get a line saying they were skipped. Bounds the dump's cost: each read is a few
/// microseconds of unwinding, and symbolising new addresses costs more (see
/// docs/notes/diagnostics.md).
inline constexpr std::size_t dump_backtrace_tasks = 256;

/// A text form of a dump, one task per line (Go's goroutine dump, in short).
std::string format_dump(const std::vector<task_info>& tasks);

}  // namespace weft
