// Introspection types: runtime_metrics (counters, cheap enough to leave on) and task_info
// (one live task, as runtime::dump() reports it).
#pragma once

#include <weft/task/task_id.hpp>

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

/// A fixed-bucket histogram of durations, as the runtime keeps them per worker when
/// builder::latency_histograms is on (worker_metrics::schedule_latency and run_time).
///
/// Bucket `i < buckets - 1` counts the durations in (upper_bound(i - 1), upper_bound(i)]:
/// powers of two from 256 ns to 2^30 ns (about 1.07 s), so each bucket is twice as wide as the
/// one before, and the last bucket counts everything longer. The bounds are fixed, so
/// histograms of different workers and different runtimes add up bucket by bucket.
struct latency_histogram {
    /// Number of buckets, the unbounded last one included.
    static constexpr std::size_t buckets = 24;
    /// Inclusive upper bound of bucket `i` (2^(8+i) ns); nanoseconds::max() for the last one.
    static constexpr std::chrono::nanoseconds upper_bound(std::size_t i) noexcept {
        return i + 1 >= buckets ? std::chrono::nanoseconds::max()
                                : std::chrono::nanoseconds(std::int64_t{1} << (8 + i));
    }
    /// The bucket a duration of `ns` nanoseconds falls in.
    static constexpr std::size_t bucket_of(std::uint64_t ns) noexcept {
        if (ns <= 256) return 0;
        // ns in (2^(k-1), 2^k] has bit_width(ns - 1) == k, and bucket k - 8 ends at 2^k.
        const auto k = static_cast<std::size_t>(std::bit_width(ns - 1));
        return k - 8 < buckets ? k - 8 : buckets - 1;
    }

    /// Durations per bucket (not cumulative).
    std::array<std::uint64_t, buckets> counts{};
    /// Durations recorded (the sum of counts).
    std::uint64_t count = 0;
    /// Their sum.
    std::chrono::nanoseconds sum{0};

    /// The upper bound of the bucket holding the q-quantile (0 <= q <= 1), so the true
    /// quantile is at most this and more than half of it; zero when nothing was recorded, and
    /// nanoseconds::max() when it falls in the unbounded bucket.
    [[nodiscard]] std::chrono::nanoseconds quantile_bound(double q) const noexcept;
};

/// Counters of one worker, since the runtime started.
struct worker_metrics {
    std::uint64_t polls = 0;             ///< task resumptions run by this worker
    std::uint64_t steals = 0;            ///< tasks taken from other workers' queues
    std::uint64_t steal_operations = 0;  ///< successful steal attempts
    std::uint64_t parks = 0;             ///< times the worker went idle
    /// Times the worker woke from an idle sleep (for new work, I/O, a timer, or a peer that
    /// armed an earlier timer), including wake-ups that found nothing to do and slept again.
    /// Many more wake-ups than parks: an idle worker woken for nothing.
    std::uint64_t wakeups = 0;
    std::uint64_t overflows = 0;        ///< local queue overflows into the global queue
    std::size_t local_queue_depth = 0;  ///< tasks in the local queue now
    std::chrono::nanoseconds busy{0};   ///< time spent not parked
    /// With builder::latency_histograms on (empty otherwise): for each task resumption this
    /// worker ran, the time from the moment the task became runnable (spawned, woken, or
    /// yielded) to the moment it ran again here. The scheduler's fairness promise is a bound
    /// on this: a runnable task waits behind a bounded amount of other work.
    latency_histogram schedule_latency;
    /// With builder::latency_histograms on (empty otherwise): how long each task resumption
    /// ran on this worker before the task suspended, yielded or ended. A long tail here is a
    /// task that holds its worker (see builder::blocking_warning_threshold).
    latency_histogram run_time;
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
    /// Whether the workers keep latency histograms (builder::latency_histograms).
    bool latency_histograms = false;
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
    /// Whether the task was aborted (abort_handle::abort, a lost select branch, a cancelled
    /// join or scope) and has not finished yet: it throws task_cancelled at its current or
    /// next cancellation point. A suspended task that stays cancelled is one whose wait did
    /// not end on the abort (shielded, or a bug worth reporting).
    bool cancelled = false;
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

/// A text form of a dump, one task per line (Go's goroutine dump, in short):
/// `task ID 'NAME' [STATE] spawned at FILE:LINE, waiting on WHAT at FILE:LINE`, the state
/// followed by `, cancelled` for a task aborted and not finished yet (task_info::cancelled),
/// and each backtrace frame on an indented line below.
std::string format_dump(const std::vector<task_info>& tasks);

}  // namespace weft
