// builder validation, runtime lifetime, handle lookup.
#include "../asio/executor_access.hpp"
#include "../diagnostics/task_state_name.hpp"
#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"

#include <weft/error.hpp>
#include <weft/runtime.hpp>
#include <weft/task/task_builder.hpp>

#include <fmt/core.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>

namespace weft {

// ---- builder ----------------------------------------------------------------------------

builder builder::multi_thread() {
    builder b;
    b.cfg_.multi_thread = true;
    return b;
}

builder builder::current_thread() {
    builder b;
    b.cfg_.multi_thread = false;
    return b;
}

builder& builder::worker_threads(std::size_t n) {
    cfg_.worker_threads = n;
    worker_threads_set_ = true;
    return *this;
}
builder& builder::max_blocking_threads(std::size_t n) {
    cfg_.max_blocking_threads = n;
    return *this;
}
builder& builder::thread_keep_alive(std::chrono::nanoseconds d) {
    cfg_.thread_keep_alive = d;
    return *this;
}
builder& builder::stack_size(std::size_t bytes) {
    cfg_.stack_size = bytes;
    return *this;
}
builder& builder::thread_name(std::string name) {
    cfg_.thread_name = std::move(name);
    return *this;
}
builder& builder::on_thread_start(std::function<void()> f) {
    cfg_.on_thread_start = std::move(f);
    return *this;
}
builder& builder::on_thread_stop(std::function<void()> f) {
    cfg_.on_thread_stop = std::move(f);
    return *this;
}
builder& builder::start_paused(bool paused) {
    cfg_.start_paused = paused;
    return *this;
}
builder& builder::seed(std::uint64_t s) {
    cfg_.seed = s;
    return *this;
}
builder& builder::unhandled_exception(unhandled_exception_policy p) {
    cfg_.unhandled = p;
    return *this;
}
builder& builder::latency_histograms(bool on) {
    cfg_.latency_histograms = on;
    return *this;
}

builder& builder::file_io(fs::io_backend b) {
    cfg_.file_io = b;
    return *this;
}
builder& builder::socket_io(net::io_backend b) {
    cfg_.socket_io = b;
    return *this;
}

builder& builder::blocking_warning_threshold(std::chrono::nanoseconds d) {
    cfg_.blocking_warning_threshold = d;
    return *this;
}
builder& builder::stall_signal(int signo) {
    cfg_.stall_signal = signo;
    return *this;
}
builder& builder::on_task_spawn(std::function<void(const task_info&)> f) {
    cfg_.on_task_spawn = std::move(f);
    return *this;
}
builder& builder::on_task_terminate(std::function<void(const task_info&)> f) {
    cfg_.on_task_terminate = std::move(f);
    return *this;
}

runtime builder::build() {
    if (worker_threads_set_ && cfg_.worker_threads == 0) {
        throw std::invalid_argument("weft::builder::worker_threads: must be at least 1 (got 0)");
    }
    if (worker_threads_set_ && cfg_.worker_threads > 4096) {
        throw std::invalid_argument(fmt::format(
            "weft::builder::worker_threads: at most 4096 (got {})", cfg_.worker_threads));
    }
    if (cfg_.max_blocking_threads == 0) {
        throw std::invalid_argument(
            "weft::builder::max_blocking_threads: must be at least 1 (got 0)");
    }
    if (cfg_.thread_keep_alive.count() < 0) {
        throw std::invalid_argument("weft::builder::thread_keep_alive: must not be negative");
    }
    detail::validate_stack_size(cfg_.stack_size, "builder::stack_size");
    if (cfg_.thread_name.empty()) {
        throw std::invalid_argument("weft::builder::thread_name: must not be empty");
    }
    if (cfg_.seed && cfg_.multi_thread) {
        throw std::invalid_argument(
            "weft::builder::seed: a seeded run order needs builder::current_thread() (a "
            "multi_thread runtime's order depends on its threads)");
    }
    if (cfg_.blocking_warning_threshold.count() < 0) {
        throw std::invalid_argument(
            "weft::builder::blocking_warning_threshold: must not be negative");
    }
    if (cfg_.file_io != fs::io_backend::automatic && cfg_.file_io != fs::io_backend::io_uring &&
        cfg_.file_io != fs::io_backend::thread_pool) {
        throw std::invalid_argument("weft::builder::file_io: not a weft::fs::io_backend value");
    }
    if (cfg_.socket_io != net::io_backend::automatic &&
        cfg_.socket_io != net::io_backend::io_uring && cfg_.socket_io != net::io_backend::reactor) {
        throw std::invalid_argument("weft::builder::socket_io: not a weft::net::io_backend value");
    }
    if (cfg_.stall_signal != -1 && cfg_.stall_signal != 0 &&
        (cfg_.stall_signal < SIGRTMIN || cfg_.stall_signal > SIGRTMAX)) {
        throw std::invalid_argument(fmt::format(
            "weft::builder::stall_signal: {} is not a real-time signal (SIGRTMIN {} .. SIGRTMAX "
            "{}) nor 0",
            cfg_.stall_signal, SIGRTMIN, SIGRTMAX));
    }
    auto s = std::make_shared<detail::scheduler>(cfg_);
    s->start();
    return runtime(std::move(s));
}

// ---- runtime ----------------------------------------------------------------------------

runtime::runtime()
    : runtime(builder::multi_thread().build()) {}

runtime::runtime(std::shared_ptr<detail::scheduler> s) noexcept
    : sched_(std::move(s)) {}

runtime::runtime(runtime&&) noexcept = default;

runtime& runtime::operator=(runtime&& o) noexcept {
    if (this != &o) {
        if (sched_) sched_->shutdown(std::chrono::nanoseconds::max());
        sched_ = std::move(o.sched_);
    }
    return *this;
}

runtime::~runtime() {
    if (!sched_) return;
    if (detail::this_thread_context().sched == sched_.get()) {
        std::fputs("weft: a runtime was destroyed on one of its own threads (a task, worker or "
                   "blocking thread); it cannot join itself. Destroy it from the thread that built "
                   "it.\n",
                   stderr);
        std::terminate();
    }
    sched_->shutdown(std::chrono::nanoseconds::max());
}

void runtime::shutdown_timeout(std::chrono::nanoseconds d) {
    if (!sched_) return;
    if (detail::this_thread_context().sched == sched_.get()) {
        throw std::logic_error(
            "weft::runtime::shutdown_timeout: called on one of the runtime's own threads");
    }
    sched_->shutdown(d);
}

weft::handle runtime::handle() const { return weft::handle(sched_); }

executor runtime::get_executor() const noexcept {
    return detail::executor_access::make(sched_.get(), detail::shard_here(sched_.get()));
}

executor handle::get_executor() const noexcept {
    return detail::executor_access::make(sched_.get(), detail::shard_here(sched_.get()));
}

runtime_metrics runtime::metrics() const { return sched_->metrics(); }

std::vector<task_info> runtime::dump() const { return sched_->dump(); }

std::vector<task_info> runtime::dump(with_backtraces_t) const { return sched_->dump(true); }

// ---- handle -----------------------------------------------------------------------------

std::optional<handle> handle::try_current() {
    detail::scheduler* s = detail::this_thread_context().sched;
    if (!s) return std::nullopt;
    return handle(s->shared_from_this());
}

handle handle::current() {
    if (auto h = try_current()) return *h;
    throw no_runtime(
        "weft::handle::current: not inside a weft runtime. Call it from a task, a worker "
        "thread or a blocking-pool thread, or keep the handle from runtime::handle()");
}

// ---- dump text --------------------------------------------------------------------------

std::string format_dump(const std::vector<task_info>& tasks) {
    std::string out = fmt::format("{} task(s)\n", tasks.size());
    for (const task_info& t : tasks) {
        out += fmt::format("task {}{}{} [{}{}] spawned at {}:{}", t.id, t.name.empty() ? "" : " '",
                           t.name.empty() ? std::string() : t.name + "'",
                           detail::task_state_name(t.state), t.cancelled ? ", cancelled" : "",
                           t.spawned_at.file_name(), t.spawned_at.line());
        if (t.state == task_state::suspended && !t.waiting_on.empty()) {
            out += fmt::format(", waiting on {} at {}:{}", t.waiting_on, t.suspended_at.file_name(),
                               t.suspended_at.line());
        }
        out += '\n';
        for (const std::string& frame : t.backtrace) {
            out += "    ";
            out += frame;
            out += '\n';
        }
    }
    return out;
}

}  // namespace weft
