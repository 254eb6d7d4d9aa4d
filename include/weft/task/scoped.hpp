// scoped / scope: structured concurrency. Tasks spawned through a scope cannot outlive it,
// so they may borrow the spawning function's local variables by reference.
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/task_impl.hpp>
#include <weft/task/detail/child_group.hpp>
#include <weft/task/detail/scope_push.hpp>
#include <weft/task/join_handle.hpp>

#include <concepts>
#include <exception>
#include <functional>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>
#include <variant>

namespace weft {

class scope;
template <class F>
requires std::invocable<std::decay_t<F>, scope&> auto scoped(F&& f);

namespace detail {
/// The callable of a scope's child: hands an exception to the scope and reports its own
/// destruction.
template <class F>
class scope_child {
   public:
    template <class G>
    scope_child(child_group& g, G&& f)
        : g_(&g),
          f_(std::in_place, std::forward<G>(f)) {}
    scope_child(scope_child&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
        : g_(std::exchange(o.g_, nullptr)),
          f_(std::move(o.f_)) {}
    scope_child& operator=(scope_child&&) = delete;
    ~scope_child() {
        if (!g_) return;
        f_.reset();  // the captures (references into the scope's frame) die first
        g_->destroyed();
    }

    result_of_t<F> operator()() {
        try {
            return std::invoke(std::move(*f_));
        } catch (const task_cancelled&) {
            throw;
        } catch (...) {
            // The exception belongs to the scope, which rethrows it from scoped(); this
            // task ends cancelled, so no unhandled-exception report is made for it.
            g_->returned(0, std::current_exception());
            throw task_cancelled{};
        }
    }

   private:
    child_group* g_;
    std::optional<F> f_;
};
}  // namespace detail

/// The handle scoped() passes to its function, to spawn children that end before scoped()
/// returns. Safe to use from the function and from the children themselves (concurrently);
/// never after scoped() returned.
class scope {
   public:
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

    /// Spawns `f` as a child task: an ordinary task (it may run in parallel on any worker,
    /// has its own id, inherits inherited task_locals) that scoped() waits for. `f` may
    /// capture the scoped function's locals by reference.
    ///
    /// The returned handle works as any join_handle; dropping it does not detach the child
    /// from the scope. If the child throws, the exception belongs to the scope: every other
    /// child and the scoped function are cancelled and scoped() rethrows it; the child's own
    /// handle reports join_error::is_cancelled(). A child spawned once the scope is
    /// cancelling never runs.
    template <detail::task_callable F>
    join_handle<detail::result_of_t<F>> spawn(
        F&& f, std::source_location loc = std::source_location::current()) {
        using R = detail::result_of_t<F>;
        static_assert(detail::valid_result_v<R>,
                      "weft: a task must return void or a move-constructible object type");
        g_->reserve();
        detail::task_result<R>* t =
            detail::make_task(detail::scope_child<std::decay_t<F>>(*g_, std::forward<F>(f)), loc);
        detail::submit_child(*g_, t, {});
        return detail::handle_access::make(t);
    }

   private:
    template <class F>
    requires std::invocable<std::decay_t<F>, scope&> friend auto scoped(F&& f);
    explicit scope(detail::child_group& g) noexcept
        : g_(&g) {}
    detail::child_group* g_;
};

/// Runs `f(scope&)` inline in the calling task and returns its value once every child
/// spawned through the scope has ended. Children may therefore borrow `f`'s local variables
/// (and the caller's) by reference:
///
/// ```cpp
/// std::vector<int> out(100);
/// weft::scoped([&](weft::scope& s) {
///     for (int i = 0; i < 100; ++i) s.spawn([&out, i] { out[i] = work(i); });
/// });  // every child has ended here
/// ```
///
/// Throws: the first exception, whether `f` threw it or a child did; before it is rethrown
/// the others are cancelled (`f` at its next cancellation point, children by abort) and
/// every child has ended. Works on a plain thread of a runtime too (the thread blocks).
///
/// **Cancellation**: a cancellation point. Aborting the caller cancels `f` and every child;
/// scoped still waits for all children (the wait is not itself a cancellation point), then
/// throws task_cancelled. A timeout around scoped behaves the same and throws weft::elapsed.
template <class F>
requires std::invocable<std::decay_t<F>, scope&> auto scoped(F&& f) {
    using R = std::invoke_result_t<std::decay_t<F>, scope&>;
    static_assert(detail::valid_result_v<R>,
                  "weft::scoped: f must return void or a move-constructible object type");
    using value_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
    detail::throw_if_cancelled();
    std::decay_t<F> fn(std::forward<F>(f));
    detail::cancel_scope cs;  // fired when a child fails: cancels fn
    detail::scope_push pushed(cs);
    detail::child_group g(detail::child_group::policy::first_failure, &cs);
    scope s(g);
    std::optional<value_t> value;
    try {
        if constexpr (std::is_void_v<R>) {
            std::invoke(std::move(fn), s);
            value.emplace();
        } else {
            value.emplace(std::invoke(std::move(fn), s));
        }
    } catch (const detail::scope_cancelled& c) {
        // Our own scope: a child failed first and its exception is already recorded.
        if (c.scope != &cs) g.returned(0, std::current_exception());
    } catch (...) {
        g.returned(0, std::current_exception());
    }
    g.wait("scoped", std::source_location::current());
    pushed.pop();
    if (g.first_exception()) std::rethrow_exception(g.first_exception());
    detail::throw_if_cancelled();
    if constexpr (!std::is_void_v<R>) return std::move(*value);
}

}  // namespace weft
