// Free spawn functions: spawn, spawn_local, spawn_blocking (Tokio's task::spawn family).
#pragma once

#include <weft/task/join_handle.hpp>

#include <source_location>

namespace weft {

/// Spawns `f` as a new task on the current runtime and returns its handle. Callable from a
/// task, a worker thread or a blocking-pool thread; elsewhere throws weft::no_runtime.
/// The task may run on any worker and migrate between them at suspension points.
template <detail::task_callable F>
join_handle<detail::result_of_t<F>> spawn(
    F&& f, std::source_location loc = std::source_location::current()) {
    return detail::spawn_with(nullptr, {}, std::forward<F>(f), loc);
}

/// Spawns `f` pinned to the current worker thread: it never migrates, so thread_local state
/// stays valid across its suspension points. Must be called on a worker (else no_runtime).
template <detail::task_callable F>
join_handle<detail::result_of_t<F>> spawn_local(
    F&& f, std::source_location loc = std::source_location::current()) {
    detail::spawn_options o;
    o.pinned = true;
    return detail::spawn_with(nullptr, std::move(o), std::forward<F>(f), loc);
}

/// Runs `f` on the runtime's blocking pool (a thread that may block freely). Aborting it
/// before it starts prevents it from running; after it started, abort has no effect.
template <detail::task_callable F>
join_handle<detail::result_of_t<F>> spawn_blocking(
    F&& f, std::source_location loc = std::source_location::current()) {
    detail::spawn_options o;
    o.blocking = true;
    return detail::spawn_with(nullptr, std::move(o), std::forward<F>(f), loc);
}

}  // namespace weft
