// select: run several functions concurrently as branches of the calling task; the first to
// end wins and the others are cancelled (Tokio's select!).
#pragma once

#include <weft/detail/assert.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/task_impl.hpp>
#include <weft/task/detail/child_group.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>

namespace weft {

namespace detail {
template <class Variant, std::size_t I = 0, class Slots>
Variant take_winner(std::size_t winner, Slots& slots) {
    if constexpr (I + 1 < std::tuple_size_v<Slots>) {
        if (winner != I) return take_winner<Variant, I + 1>(winner, slots);
    }
    return Variant(std::in_place_index<I>, std::move(*std::get<I>(slots)));
}
}  // namespace detail

/// Runs every `f` concurrently; the first to end wins. Returns
/// std::variant<R0', R1', ...> holding the winner's value at the winner's index
/// (`index()` tells which branch won; the types may repeat; void becomes std::monostate).
///
/// Branches are fibers of the calling task, as for weft::join. When one ends, every other
/// branch is cancelled before it resumes (aborted: it throws task_cancelled at its current
/// or next cancellation point, so its destructors run) and select waits for all of them
/// before it returns. A loser that returns a value anyway (it was not at a cancellation
/// point) has that value destroyed.
///
/// ```cpp
/// auto r = weft::select([&] { return rx.recv(); },
///                       [&] { weft::sleep_for(1s); });
/// if (r.index() == 1) { /* timed out */ }
/// ```
///
/// Throws: if the winner threw, that exception, after the same wait. Context errors as
/// weft::join.
///
/// **Cancellation**: a cancellation point. Aborting the caller (or a timeout around it
/// expiring) cancels every branch, waits for them, and throws task_cancelled (weft::elapsed
/// from the timeout). Whether a loser's operation is lost depends on that operation's own
/// cancel-safety: a loser parked in a cancel-safe call (recv, lock, acquire, ...) consumed
/// nothing.
template <class... F>
    requires(sizeof...(F) > 0 && (detail::task_callable<F> && ...))
auto select(F&&... f) {
    using result_t = std::variant<detail::branch_value_t<F>...>;
    detail::throw_if_cancelled();
    detail::child_group g(detail::child_group::policy::first_end);
    std::tuple<std::optional<detail::branch_value_t<F>>...> slots;
    detail::spawn_branches(g, slots, std::index_sequence_for<F...>{}, std::forward<F>(f)...);
    g.wait("select", std::source_location::current());
    // A winner that returned a value is returned even if the caller was cancelled meanwhile:
    // it may have consumed something (the caller's next cancellation point throws).
    if (g.first() != detail::child_group::none && !g.first_exception()) {
        return detail::take_winner<result_t>(g.first(), slots);
    }
    detail::throw_if_cancelled();  // the caller's own reason (abort, or a timeout's scope)
    WEFT_INVARIANT(g.first_exception() != nullptr, "select returns only with a winner");
    std::rethrow_exception(g.first_exception());
}

}  // namespace weft
