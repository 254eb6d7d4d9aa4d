// The one suspension primitive every waiting operation is built on, and the questions a
// cancellation point asks. Used by weft's own headers (channels are templates); not for users.
//
// Protocol for a wait (the same in a task and on a plain thread):
//   1. register a waker (current_waker()) with the primitive, under its lock;
//   2. loop { if done: break; if cancellation_requested(): deregister or pass on; park(); }
// park() may return spuriously (a stale wake, an abort), so callers always re-check.
#pragma once

#include <weft/detail/waker.hpp>

#include <source_location>

namespace weft::detail {

class task_header;

/// The task running on this thread, or null (plain thread, blocking pool, handler on a worker).
/// Opaque on purpose: a task can migrate between threads at every suspension point.
task_header* current_task() noexcept;

/// True on a weft worker thread that is not inside a task (e.g. an Asio handler).
bool on_worker_outside_task() noexcept;

/// A waker for the calling context. On a worker outside a task: std::logic_error ("would
/// block a worker").
waker current_waker(const char* operation);

/// Suspends the current task (or blocks the current thread) until a waker for it is woken.
/// `what` (static storage) and `where` are recorded for dump(). Not a cancellation point by
/// itself: callers check cancellation_requested() around it.
void park(const char* what, std::source_location where = std::source_location::current());

/// The calling task was aborted and may be interrupted now: not shielded and not unwinding.
bool cancellation_requested() noexcept;

/// cancellation_requested() because the task was aborted (not only because a deadline scope
/// fired). A receive that was granted a value as its task is aborted puts it back.
bool abort_requested() noexcept;

/// Throws task_cancelled when cancellation_requested().
void throw_if_cancelled();

/// Records a cancellation point that did not suspend; a task that has used its budget of
/// ready operations yields here (cooperative scheduling). Throws task_cancelled if aborted.
void consume_budget(std::source_location where = std::source_location::current());

/// Throws std::logic_error if called on a worker thread outside a task.
void check_may_block(const char* operation);

}  // namespace weft::detail
