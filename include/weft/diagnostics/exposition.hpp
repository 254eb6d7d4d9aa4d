// Text forms of the runtime's introspection data for machines: Prometheus exposition format
// for runtime_metrics, JSON for a task dump (format_dump in <weft/metrics.hpp> is the one
// for humans).
#pragma once

#include <weft/metrics.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace weft {

/// The Content-Type of format_prometheus's output (text exposition format 0.0.4).
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// `m` in the Prometheus text exposition format 0.0.4: a `# HELP` and a `# TYPE` line per
/// metric family, then its samples, e.g.
///
///     # HELP weft_alive_tasks Tasks spawned and not yet finished.
///     # TYPE weft_alive_tasks gauge
///     weft_alive_tasks 12
///     ...
///     weft_worker_polls_total{worker="0"} 5310
///
/// Runtime-wide families: weft_workers, weft_alive_tasks, weft_spawned_tasks_total,
/// weft_global_queue_depth, weft_blocking_threads, weft_idle_blocking_threads. Per worker,
/// labelled `worker="<index>"`: weft_worker_polls_total, weft_worker_steals_total,
/// weft_worker_steal_operations_total, weft_worker_parks_total, weft_worker_wakeups_total,
/// weft_worker_overflows_total, weft_worker_local_queue_depth, weft_worker_busy_seconds_total.
/// Counters end in `_total`.
/// Serve it with prometheus_content_type.
std::string format_prometheus(const runtime_metrics& m);

/// A dump as a JSON document:
///
///     {"tasks":[{"id":7,"name":"acceptor","state":"suspended",
///                "spawned_at":"src/main.cpp:42","waiting_on":"io",
///                "suspended_at":"src/main.cpp:57"}, ...]}
///
/// `state` is "scheduled", "running", "suspended" or "finished". `name`, `waiting_on` and
/// `suspended_at` are empty strings when the task has none (suspended_at is only set while
/// suspended). Strings are escaped per RFC 8259; bytes of a name that are not valid UTF-8
/// become U+FFFD, so the output is always valid UTF-8 JSON. A task with a backtrace (a dump
/// taken with weft::with_backtraces) also has `"backtrace":["#0 ...", ...]`, its frames as
/// format_dump prints them; the key is absent otherwise.
std::string format_dump_json(const std::vector<task_info>& tasks);

}  // namespace weft
