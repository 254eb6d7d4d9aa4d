// Introspection types: runtime_metrics (counters, cheap enough to leave on) and task_info
// (one live task, as runtime::dump() reports it).
#pragma once

#include <weft/detail/task_header.hpp>

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

struct runtime_metrics {
    std::size_t workers = 0;
    std::size_t alive_tasks = 0;
    std::size_t global_queue_depth = 0;
    std::size_t blocking_threads = 0;
    std::size_t idle_blocking_threads = 0;
    std::uint64_t spawned_tasks = 0;
    std::vector<worker_metrics> per_worker;
};

enum class task_state { scheduled, running, suspended, finished };

/// One live task, as runtime::dump() reports it.
struct task_info {
    task_id id = 0;
    std::string name;
    std::source_location spawned_at;
    task_state state = task_state::scheduled;
    std::string_view waiting_on;  ///< static storage: "sleep", "mpsc::recv", "join", "io", ...
    std::source_location suspended_at;
};

/// A text form of a dump, one task per line (Go's goroutine dump, in short).
std::string format_dump(const std::vector<task_info>& tasks);

}  // namespace weft
