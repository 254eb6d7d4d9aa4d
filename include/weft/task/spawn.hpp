// Free spawn functions: spawn, spawn_local, spawn_blocking (Tokio's task::spawn family).
#pragma once

#include <weft/task/join_handle.hpp>

#include <source_location>

namespace weft {

/// Spawns `f` as a new task on the current runtime and returns its handle. Callable from a
/// task, a worker thread or a blocking-pool thread; elsewhere throws weft::no_runtime.
/// The task may run on any worker and migrate between them at suspension points.
///
/// ```cpp
/// weft::join_handle<int> h = weft::spawn([] { weft::sleep_for(10ms); return 7; });
/// int v = h.join();  // 7; join_error if the task threw or was aborted
/// ```
///
/// `f` is decay-copied into the task (it may be move-only) and must return void or a
/// move-constructible object. Destroying the handle detaches the task (it runs on; an
/// exception it throws goes to the runtime's unhandled_exception policy). Not a suspending
/// call: the new task is queued and the caller continues.
template <detail::task_callable F>
join_handle<detail::result_of_t<F>> spawn(
    F&& f, std::source_location loc = std::source_location::current()) {
    return detail::spawn_with(nullptr, {}, std::forward<F>(f), loc);
}

/// Spawns `f` pinned to the current worker thread: it never migrates, so thread_local state
/// stays valid across its suspension points. Must be called on a worker (else no_runtime).
/// Pinned tasks are never stolen by other workers, so many of them can unbalance the load.
/// Use it for thread-affine code (a thread-bound C library), not for speed.
template <detail::task_callable F>
join_handle<detail::result_of_t<F>> spawn_local(
    F&& f, std::source_location loc = std::source_location::current()) {
    detail::spawn_options o;
    o.pinned = true;
    return detail::spawn_with(nullptr, std::move(o), std::forward<F>(f), loc);
}

/// Runs `f` on the runtime's blocking pool (a thread that may block freely). Aborting it
/// before it starts prevents it from running; after it started, abort has no effect.
/// Use it for calls that block their thread (files, blocking C libraries, long
/// computations): the workers stay free for tasks. Jobs wait for a pool thread (up to
/// builder::max_blocking_threads; idle threads exit after builder::thread_keep_alive).
/// weft::offload is the inline form that lets `f` borrow the caller's locals.
template <detail::task_callable F>
join_handle<detail::result_of_t<F>> spawn_blocking(
    F&& f, std::source_location loc = std::source_location::current()) {
    detail::spawn_options o;
    o.blocking = true;
    return detail::spawn_with(nullptr, std::move(o), std::forward<F>(f), loc);
}

}  // namespace weft
