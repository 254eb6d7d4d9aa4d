// runtime: owns the workers, the blocking pool and every task (Tokio's Runtime).
#pragma once

#include <weft/asio/executor.hpp>
#include <weft/metrics.hpp>
#include <weft/runtime/builder.hpp>
#include <weft/runtime/handle.hpp>

#include <chrono>
#include <memory>
#include <source_location>
#include <vector>

namespace weft {

/// A weft runtime. Movable, not copyable. Destroying it shuts it down: every task is
/// cancelled and run until its stack unwound (RAII destructors run), then every thread is
/// joined. Tasks still not unwound when shutdown_timeout expires are leaked, not freed.
///
/// ```cpp
/// weft::runtime rt;  // builder::multi_thread().build(): one worker per core
/// int v = rt.block_on([] {
///     auto h = weft::spawn([] { return 20; });
///     return h.join() + 1;
/// });  // 21
/// ```
class runtime {
   public:
    /// builder::multi_thread().build()
    runtime();
    /// Takes over `o`'s workers and tasks; `o` is left empty (destroying it does nothing).
    runtime(runtime&&) noexcept;
    /// Shuts this runtime down (as the destructor), then takes over `o`'s.
    runtime& operator=(runtime&&) noexcept;
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;
    /// Shuts down (see the class comment). Called on one of the runtime's own threads:
    /// std::terminate with a message.
    ~runtime();

    /// Runs `f` as a task and blocks the calling thread until it ends; returns its value or
    /// rethrows its exception. std::logic_error when called on a runtime thread.
    template <detail::task_callable F>
    detail::result_of_t<F> block_on(F&& f,
                                    std::source_location loc = std::source_location::current()) {
        return handle::block_on_impl(sched_.get(), std::forward<F>(f), loc);
    }

    /// Spawns onto this runtime from any thread.
    template <detail::task_callable F>
    join_handle<detail::result_of_t<F>> spawn(
        F&& f, std::source_location loc = std::source_location::current()) {
        return detail::spawn_with(sched_.get(), {}, std::forward<F>(f), loc);
    }

    /// Runs `f` on this runtime's blocking pool.
    template <detail::task_callable F>
    join_handle<detail::result_of_t<F>> spawn_blocking(
        F&& f, std::source_location loc = std::source_location::current()) {
        detail::spawn_options o;
        o.blocking = true;
        return detail::spawn_with(sched_.get(), std::move(o), std::forward<F>(f), loc);
    }

    /// A copyable handle to this runtime.
    [[nodiscard]] weft::handle handle() const;

    /// An Asio executor running handlers on this runtime's workers (see weft::executor).
    [[nodiscard]] executor get_executor() const noexcept;

    /// Shuts down now: cancels every task and waits at most `d` for them to unwind, then
    /// joins the threads. The destructor does the same with a default of 30 s.
    void shutdown_timeout(std::chrono::nanoseconds d);

    /// A snapshot of the runtime's counters (see runtime_metrics).
    [[nodiscard]] runtime_metrics metrics() const;
    /// Every live task: id, name, state, spawn location, what it waits on and where.
    [[nodiscard]] std::vector<task_info> dump() const;
    /// dump(), and for each suspended task (up to dump_backtrace_tasks of them) the stack
    /// it parked with, symbolised (task_info::backtrace), Go-style: the task's own frames,
    /// not only the call site of its wait. Each parked task is briefly borrowed (a wake
    /// meanwhile is held back until the read ends, microseconds) and its stack unwound on the
    /// calling thread; see docs/notes/diagnostics.md for the cost. Any thread; from a task,
    /// call it through weft::offload: the first symbolisation in a process loads the debug
    /// information, which would hold the worker (a fraction of a second).
    [[nodiscard]] std::vector<task_info> dump(with_backtraces_t) const;

   private:
    friend class builder;
    explicit runtime(std::shared_ptr<detail::scheduler> s) noexcept;
    std::shared_ptr<detail::scheduler> sched_;
};

}  // namespace weft
