// signal::wait / signal::ctrl_c: wait for POSIX signals from a task (Tokio's tokio::signal).
#pragma once

#include <initializer_list>
#include <source_location>

namespace weft::signal {

/// Waits until one of `signals` (e.g. {SIGTERM, SIGHUP}) is delivered to the process and
/// returns its number.
///
/// The first wait for a signal installs a process-wide handler for it (through one
/// asio::signal_set per runtime, on its first worker's io_context) that stays until the
/// runtime is destroyed: from then on that signal no longer has its default effect (SIGINT no
/// longer ends the process) and each delivery is reported to weft. A delivery wakes every
/// task waiting for that signal; one that arrives while nobody waits for it is kept (once
/// per signal number, as POSIX pending signals are) and returned by the next wait that
/// includes it, so a loop `for (;;) { wait({SIGHUP}); reload(); }` misses none.
/// Signals the process cannot catch (SIGKILL, SIGSTOP) or out of range: system_error /
/// std::invalid_argument. Needs a runtime (a task, or its blocking pool, which blocks):
/// weft::no_runtime elsewhere.
/// **Cancellation**: a cancellation point, and cancel-safe: an aborted wait consumes no
/// signal (a delivery that raced with the abort is returned, and the next cancellation point
/// throws). In a weft::select branch a signal is delivered to it only once the branch has
/// won the select; a losing branch leaves it to the other waiters or pending.
///
/// ```cpp
/// auto server = weft::spawn(run_server);
/// int sig = weft::signal::wait({SIGINT, SIGTERM});  // SIGINT no longer ends the process
/// server.abort();                                   // shut down gracefully instead
/// ```
int wait(std::initializer_list<int> signals,
         std::source_location where = std::source_location::current());

/// Waits for SIGINT (Ctrl-C); see wait().
/// **Cancellation**: as wait(): a cancellation point, cancel-safe (no Ctrl-C is consumed by
/// an aborted call).
void ctrl_c(std::source_location where = std::source_location::current());

}  // namespace weft::signal
