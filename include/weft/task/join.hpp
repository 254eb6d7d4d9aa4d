// join: run several functions concurrently as branches of the calling task and wait for all
// of them (Tokio's join! / try_join!).
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/task_impl.hpp>
#include <weft/task/detail/child_group.hpp>

#include <exception>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>

namespace weft {

/// Runs every `f` concurrently and returns all their values as a std::tuple, in argument
/// order (a function returning void contributes std::monostate).
///
/// The branches are fibers of the calling task: each has its own stack, but they run
/// interleaved on the caller's worker (never in parallel with each other), report the
/// caller's this_task::id() and share its task_locals. Each `f` is decay-copied; it may be
/// move-only and must return void or a move-constructible object type.
///
/// ```cpp
/// auto [user, orders] = weft::join([&] { return db.user(id); },
///                                  [&] { return db.orders(id); });
/// ```
///
/// Throws: the first exception a branch throws, as it was thrown, after the other branches
/// were cancelled and have ended (their destructors ran). On a worker thread outside a task:
/// std::logic_error; outside a runtime: weft::no_runtime. On a plain thread of a runtime the
/// branches are ordinary tasks and the thread blocks.
///
/// **Cancellation**: a cancellation point. If the calling task is aborted (or a timeout
/// around the call expires) while it waits, every branch is cancelled at its own next
/// cancellation point and waited for; then the caller throws task_cancelled (or the
/// timeout's weft::elapsed). The values of branches that had finished are destroyed.
template <class... F>
requires(detail::task_callable<F>&&...) auto join(F&&... f) {
    using result_t = std::tuple<detail::branch_value_t<F>...>;
    detail::throw_if_cancelled();
    if constexpr (sizeof...(F) == 0) {
        return result_t{};
    } else {
        detail::child_group g(detail::child_group::policy::first_failure);
        std::tuple<std::optional<detail::branch_value_t<F>>...> slots;
        detail::spawn_branches(g, slots, std::index_sequence_for<F...>{}, std::forward<F>(f)...);
        g.wait("join", std::source_location::current());
        if (g.first_exception()) std::rethrow_exception(g.first_exception());
        detail::throw_if_cancelled();
        return std::apply([](auto&... slot) { return result_t(std::move(*slot)...); }, slots);
    }
}

}  // namespace weft
