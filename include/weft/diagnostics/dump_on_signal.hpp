// dump_on_signal: print a runtime's task dump to stderr when the process gets a signal
// (SIGQUIT by default, as Go does for goroutines).
#pragma once

#include <weft/runtime/handle.hpp>

#include <csignal>
#include <memory>

namespace weft {

/// Keeps a dump_on_signal installation alive; destroying it (or reset()) uninstalls it.
/// Movable, not copyable.
class signal_dump_guard {
   public:
    /// An empty guard (nothing installed).
    signal_dump_guard() noexcept;
    /// Takes over `o`'s installation; `o` becomes empty.
    signal_dump_guard(signal_dump_guard&& o) noexcept;
    /// Uninstalls what this guard held, then takes `o`'s installation.
    signal_dump_guard& operator=(signal_dump_guard&& o) noexcept;
    signal_dump_guard(const signal_dump_guard&) = delete;
    signal_dump_guard& operator=(const signal_dump_guard&) = delete;
    /// reset().
    ~signal_dump_guard();

    /// Uninstalls: stops listening for the signal and joins the helper thread. When no other
    /// Asio signal_set in the process still wants the signal, its default action is restored
    /// (for SIGQUIT: ending the process with a core dump). Idempotent.
    void reset() noexcept;
    /// True while installed.
    [[nodiscard]] bool is_installed() const noexcept { return impl_ != nullptr; }

    /// Internal state (lib/diagnostics/dump_on_signal.cpp).
    struct impl;

   private:
    friend signal_dump_guard dump_on_signal(const handle&, int);
    explicit signal_dump_guard(std::unique_ptr<impl> i) noexcept;
    std::unique_ptr<impl> impl_;
};

/// From now until the returned guard is destroyed, each delivery of `signo` to the process
/// writes to stderr a one-line metrics summary of `h`'s runtime followed by its task dump
/// with each parked task's stack (format_dump of what runtime::dump(with_backtraces)
/// returns), e.g. after `kill -QUIT <pid>`:
///
///     weft: SIGQUIT: dump of the runtime: 2 workers, 5 alive tasks, 31 spawned, ...
///     5 task(s)
///     task 3 'acceptor' [suspended] spawned at main.cpp:40, waiting on io at main.cpp:44
///         #0 weft::detail::worker::suspend(...) at lib/scheduler/worker.cpp:571
///         ...
///         #6 accept_loop(weft::net::tcp_listener&) at main.cpp:44
///
/// The process keeps running. The signal is received by a helper thread of the guard (an
/// asio::signal_set on its own io_context), not by the runtime's workers, so the dump is
/// printed even when every worker is stuck, which is when it is wanted. It coexists with
/// weft::signal::wait and other Asio signal sets for the same signal (each is told about each
/// delivery); a handler installed with sigaction() for `signo` is replaced.
/// ```cpp
/// auto guard = weft::dump_on_signal(rt.handle());           // SIGQUIT
/// ```
/// Throws std::invalid_argument for a signal that cannot be caught (SIGKILL, SIGSTOP) or out
/// of range; system_error if the signal cannot be registered.
[[nodiscard]] signal_dump_guard dump_on_signal(const handle& h, int signo = SIGQUIT);

}  // namespace weft
