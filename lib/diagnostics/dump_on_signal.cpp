// dump_on_signal: a helper thread runs its own io_context with one asio::signal_set, so the
// dump does not need a free worker (the moment a dump is wanted is often the moment every
// worker is stuck). Asio's signal machinery is process-wide: the first registration of a
// number installs one handler that forwards each delivery through a pipe to every
// signal_set wanting it, whichever io_context it belongs to, so this coexists with
// weft::signal::wait (whose sets live on the runtimes' shards) and with other guards.
//
// Uninstalling stops the io_context, joins the thread and only then destroys the set: the set
// is touched by one thread at a time, and a delivery racing with the uninstall either prints
// a dump or is dropped, never half-printed. Destroying the last set for a number makes Asio
// restore that signal's default action.
#include "../runtime/handle_access.hpp"
#include "../scheduler/scheduler.hpp"

#include <weft/diagnostics/dump_on_signal.hpp>
#include <weft/metrics.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <fmt/core.h>

#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <thread>

namespace weft {
namespace {
namespace asio = boost::asio;

std::string signal_name(int signo) {
    switch (signo) {
        case SIGQUIT:
            return "SIGQUIT";
        case SIGUSR1:
            return "SIGUSR1";
        case SIGUSR2:
            return "SIGUSR2";
        case SIGHUP:
            return "SIGHUP";
        case SIGINT:
            return "SIGINT";
        case SIGTERM:
            return "SIGTERM";
        default:
            return fmt::format("signal {}", signo);
    }
}

// One write(2) loop on fd 2: no stdio buffer or lock in between, so the dump reaches the
// file even if another thread is stuck inside stdio holding stderr's lock.
void write_stderr(std::string_view text) noexcept {
    while (!text.empty()) {
        ssize_t n = ::write(2, text.data(), text.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string render(detail::scheduler& s, int signo) {
    runtime_metrics m = s.metrics();
    std::uint64_t polls = 0, steals = 0;
    for (const worker_metrics& w : m.per_worker) {
        polls += w.polls;
        steals += w.steals;
    }
    std::string out = fmt::format(
        "weft: {}: dump of the runtime: {} workers, {} alive tasks, {} spawned, global queue {}, "
        "{} blocking threads ({} idle), {} polls, {} steals\n",
        signal_name(signo), m.workers, m.alive_tasks, m.spawned_tasks, m.global_queue_depth,
        m.blocking_threads, m.idle_blocking_threads, polls, steals);
    // With backtraces, as Go's SIGQUIT dump: the moment someone sends the signal is the
    // moment they want to know where each task is stuck in their code (the cost is bounded by
    // dump_backtrace_tasks and dump_backtrace_frames).
    out += format_dump(s.dump(true));
    return out;
}

}  // namespace

struct signal_dump_guard::impl {
    impl(handle h, int sig)
        : rt(std::move(h)),
          signo(sig),
          set(ctx, sig) {
        arm();
        thread = std::thread([this] { ctx.run(); });
    }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
    ~impl() {
        ctx.stop();
        thread.join();
    }

    void arm() {
        set.async_wait([this](const boost::system::error_code& ec, int) {
            if (ec) return;  // operation_aborted: uninstalling
            try {
                write_stderr(render(*detail::runtime_handle_access::scheduler_of(rt), signo));
            } catch (const std::exception& e) {
                write_stderr(fmt::format("weft: {}: could not dump the runtime: {}\n",
                                         signal_name(signo), e.what()));
            }
            arm();
        });
    }

    handle rt;  // keeps the scheduler alive: a guard may outlive its runtime
    int signo;
    asio::io_context ctx{1};
    asio::signal_set set;  // declared after ctx: destroyed first
    std::thread thread;    // joined by ~impl before any member goes
};

signal_dump_guard::signal_dump_guard() noexcept = default;
signal_dump_guard::signal_dump_guard(std::unique_ptr<impl> i) noexcept
    : impl_(std::move(i)) {}
signal_dump_guard::signal_dump_guard(signal_dump_guard&&) noexcept = default;

signal_dump_guard& signal_dump_guard::operator=(signal_dump_guard&& o) noexcept {
    if (this != &o) {
        reset();
        impl_ = std::move(o.impl_);
    }
    return *this;
}

signal_dump_guard::~signal_dump_guard() { reset(); }

void signal_dump_guard::reset() noexcept { impl_.reset(); }

signal_dump_guard dump_on_signal(const handle& h, int signo) {
    if (signo < 1 || signo > 64 || signo == SIGKILL || signo == SIGSTOP) {
        throw std::invalid_argument(
            fmt::format("weft::dump_on_signal: cannot catch signal {}", signo));
    }
    return signal_dump_guard(std::make_unique<signal_dump_guard::impl>(h, signo));
}

}  // namespace weft
