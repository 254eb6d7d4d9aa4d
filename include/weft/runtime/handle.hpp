// handle: a copyable reference to a runtime, to spawn onto it from anywhere (Tokio's Handle).
#pragma once

#include <weft/asio/executor.hpp>
#include <weft/task/join_handle.hpp>

#include <memory>
#include <optional>
#include <source_location>

namespace weft {

namespace detail {
struct runtime_handle_access;
/// Runs `t` (already created, not yet submitted) to completion as block_on does and leaves
/// its outcome in place. std::logic_error on a runtime thread.
void block_on_task(scheduler* rt, task_header* t);
/// After block_on_task: rethrows the task's exception as it was (or the exception the
/// unhandled_exception policy stored); join_error when the task was cancelled.
void block_on_rethrow(scheduler* rt, task_header* t);
}  // namespace detail

/// A copyable reference to a runtime. Spawning through a handle whose runtime has shut down
/// returns a join_handle whose join throws a cancelled join_error.
///
/// ```cpp
/// weft::handle h = rt.handle();
/// std::thread other([h] {
///     int v = h.spawn([] { return 5; }).join();  // join blocks this plain thread
/// });
/// ```
class handle {
   public:
    /// The runtime of the calling task or runtime thread; weft::no_runtime elsewhere.
    static handle current();
    /// Like current(), but empty outside a runtime context.
    static std::optional<handle> try_current();

    template <detail::task_callable F>
    /// Spawns `f` as a task on this runtime, from any thread (a task of another runtime, a plain
    /// thread, an Asio handler). After the runtime shut down: a handle whose join throws a
    /// cancelled join_error.
    join_handle<detail::result_of_t<F>> spawn(
        F&& f, std::source_location loc = std::source_location::current()) const {
        return detail::spawn_with(sched_.get(), {}, std::forward<F>(f), loc);
    }

    template <detail::task_callable F>
    /// Runs `f` on this runtime's blocking pool, from any thread. An abort after `f` started has
    /// no effect.
    join_handle<detail::result_of_t<F>> spawn_blocking(
        F&& f, std::source_location loc = std::source_location::current()) const {
        detail::spawn_options o;
        o.blocking = true;
        return detail::spawn_with(sched_.get(), std::move(o), std::forward<F>(f), loc);
    }

    /// Runs `f` as a task and blocks the calling thread until it ends; returns its value or
    /// rethrows its exception. std::logic_error when called on a runtime thread.
    template <detail::task_callable F>
    detail::result_of_t<F> block_on(
        F&& f, std::source_location loc = std::source_location::current()) const {
        return block_on_impl(sched_.get(), std::forward<F>(f), loc);
    }

    /// An Asio executor running handlers on this runtime's workers (see weft::executor).
    [[nodiscard]] executor get_executor() const noexcept;

    /// True when both refer to the same runtime.
    bool operator==(const handle& o) const noexcept { return sched_ == o.sched_; }

   private:
    friend class runtime;
    friend struct detail::runtime_handle_access;

    // A handle to scheduler `s`: made by runtime::handle() and handle::current().
    explicit handle(std::shared_ptr<detail::scheduler> s) noexcept
        : sched_(std::move(s)) {}

    // The body of runtime::block_on and handle::block_on.
    template <class F>
    static detail::result_of_t<F> block_on_impl(detail::scheduler* rt, F&& f,
                                                std::source_location loc) {
        using R = detail::result_of_t<F>;
        detail::task_result<R>* t = detail::make_task(std::forward<F>(f), loc);
        struct releaser {
            detail::task_header* t;
            ~releaser() { t->release(); }
        } hold{t};
        detail::block_on_task(rt, t);
        detail::block_on_rethrow(rt, t);
        if constexpr (!std::is_void_v<R>) return std::move(*t->value_);
    }

    std::shared_ptr<detail::scheduler> sched_;
};

}  // namespace weft
