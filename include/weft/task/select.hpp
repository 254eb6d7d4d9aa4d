// select: run several functions concurrently as branches of the calling task; the branch
// that first consumes something (or, if none does, first ends) wins and the others are
// cancelled (Tokio's select!).
//
// Invariants (the design is in detail/select_claim.hpp and docs/architecture.md, "select:
// claim at the moment of consumption"): a branch takes a value, permit, lock, notification or
// result from a cancel-safe weft operation only after it claimed the race (through every
// enclosing select), so a loser never holds anything; a branch releases its claim when it
// starts its next consuming operation (a loop branch: what it took is in its own code now);
// only the claim holder decides the select, and its value is returned.
#pragma once

#include <weft/detail/assert.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/select_op.hpp>
#include <weft/detail/task_impl.hpp>
#include <weft/task/detail/child_group.hpp>
#include <weft/task/detail/inline_branch.hpp>
#include <weft/task/detail/select_ops.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace weft {

namespace detail {
/// A select branch behind a guard (weft::when): never started when `enabled` is false.
template <class F>
struct when_branch {
    bool enabled;
    F fn;
    decltype(auto) operator()() { return std::invoke(std::move(fn)); }
};

template <class F>
struct is_when_branch : std::false_type {};
template <class F>
struct is_when_branch<when_branch<F>> : std::true_type {};

template <class F>
bool branch_enabled(const F& f) noexcept {
    if constexpr (is_when_branch<std::remove_cvref_t<F>>::value) {
        return f.enabled;
    } else {
        return true;
    }
}

template <class Variant, std::size_t I = 0, class Slots>
Variant take_winner(std::size_t winner, Slots& slots) {
    if constexpr (I + 1 < std::tuple_size_v<Slots>) {
        if (winner != I) return take_winner<Variant, I + 1>(winner, slots);
    }
    return Variant(std::in_place_index<I>, std::move(*std::get<I>(slots)));
}

/// Spawns the enabled branch at position `which` (a runtime index) of `fns`.
template <class Slots, class Fns, std::size_t... I>
void spawn_select_branch(std::size_t which, child_group& g, task_header* parent, Slots& slots,
                         Fns& fns, std::index_sequence<I...>) {
    auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
        if (which != J || !branch_enabled(std::get<J>(fns))) return;
        spawn_branch(g, parent, J, std::get<J>(slots),
                     std::forward<std::tuple_element_t<J, Fns>>(std::get<J>(fns)));
    };
    (one(std::integral_constant<std::size_t, I>{}), ...);
}

/// Whether the enabled branch at runtime position `which` exists.
template <class Fns, std::size_t... I>
bool branch_enabled_at(std::size_t which, const Fns& fns, std::index_sequence<I...>) {
    return ((which == I && branch_enabled(std::get<I>(fns))) || ...);
}

/// Calls branch `which` (a runtime index) of `fns` on the calling fiber, its value going to
/// its slot. The callable is moved (or copied) out first and called as an rvalue, as a branch
/// fiber calls its own copy.
template <class Slots, class Fns, std::size_t... I>
void call_select_branch(std::size_t which, Slots& slots, Fns& fns, std::index_sequence<I...>) {
    auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
        if (which != J) return;
        using fn_t = std::tuple_element_t<J, Fns>;
        std::decay_t<fn_t> fn(std::forward<fn_t>(std::get<J>(fns)));
        if constexpr (std::is_void_v<result_of_t<fn_t>>) {
            std::invoke(std::move(fn));
            std::get<J>(slots).emplace();
        } else {
            std::get<J>(slots).emplace(std::invoke(std::move(fn)));
        }
    };
    (one(std::integral_constant<std::size_t, I>{}), ...);
}

template <class Variant, class Slots>
Variant select_result(child_group& g, Slots& slots, const std::exception_ptr& start_error) {
    // A winner that returned a value is returned even if the caller was cancelled meanwhile:
    // it may have consumed something (the caller's next cancellation point throws).
    if (g.first() != child_group::none && !g.first_exception()) {
        return take_winner<Variant>(g.first(), slots);
    }
    if (start_error) std::rethrow_exception(start_error);
    throw_if_cancelled();  // the caller's own reason (abort, or a timeout's scope)
    WEFT_INVARIANT(g.first_exception() != nullptr, "select returns only with a winner");
    std::rethrow_exception(g.first_exception());
}

/// Every branch a fiber: off a task (then ordinary tasks of the runtime), and inside a shield
/// or while unwinding, where a branch on the caller's fiber could not be refused a claim.
template <class... F>
auto select_spawned(bool biased, F&&... f) {
    using result_t = std::variant<branch_value_t<F>...>;
    constexpr std::size_t n = sizeof...(F);
    child_group g(child_group::policy::first_end);
    std::tuple<std::optional<branch_value_t<F>>...> slots;
    std::tuple<F&&...> fns(std::forward<F>(f)...);
    task_header* parent = current_task();
    std::size_t start = biased ? 0 : select_start(n);
    for (std::size_t k = 0; k < n; ++k) {
        spawn_select_branch((start + k) % n, g, parent, slots, fns,
                            std::index_sequence_for<F...>{});
    }
    g.wait("select", std::source_location::current());
    return select_result<result_t>(g, slots, nullptr);
}

/// The call site's key for select_pick: one per instantiation, so per select expression in
/// practice (each lambda has its own type).
template <class... F>
inline constexpr char select_site = 0;

template <class... F>
auto select_impl(bool biased, F&&... f) {
    using result_t = std::variant<branch_value_t<F>...>;
    constexpr std::size_t n = sizeof...(F);
    constexpr auto seq = std::index_sequence_for<F...>{};
    if (!(branch_enabled(f) || ...)) {
        throw std::invalid_argument("weft::select: every branch is disabled");
    }
    throw_if_cancelled();
    task_header* parent = current_task();
    if (!parent || parent->shielded() || std::uncaught_exceptions() != 0) {
        return select_spawned(biased, std::forward<F>(f)...);
    }
    std::tuple<std::optional<branch_value_t<F>>...> slots;
    std::tuple<F&&...> fns(std::forward<F>(f)...);
    const std::uint32_t site = select_site_key(&select_site<F...>);
    select_turn turn = biased ? select_turn{} : select_pick(*parent, site, n);
    std::size_t first = turn.start;
    while (!branch_enabled_at(first, fns, seq)) first = (first + 1) % n;

    // The first branch runs inline; the others start (in order after it) when its fiber
    // first suspends, and never if it wins without suspending.
    cancel_scope cs;  // fired when another branch decides: the inline branch lost
    child_group g(child_group::policy::first_end, &cs);
    g.set_inline(first);
    std::exception_ptr start_error;
    auto start_rest = [&]() noexcept {
        try {
            for (std::size_t k = 1; k < n; ++k) {
                spawn_select_branch((first + k) % n, g, parent, slots, fns, seq);
            }
            return true;
        } catch (...) {
            // Reported as the select's failure: the inline branch is cut at its next
            // cancellation point (the park that started us returns at once), the branches
            // already started are cancelled, and the select rethrows this.
            start_error = std::current_exception();
            // Ordering: release, paired with the acquire in the task's cancellation check.
            cs.fired.store(true, std::memory_order_release);
            return false;
        }
    };
    const claim_record rec = g.claim_for(first);
    inline_select_of<decltype(start_rest)> sel(rec, start_rest);
    {
        inline_branch branch(parent, cs, sel);
        std::exception_ptr e;
        bool cut = false;
        try {
            call_select_branch(first, slots, fns, seq);
        } catch (const scope_cancelled& c) {
            cut = c.scope == &cs;  // ours: another branch decided, or starting them failed
            if (!cut) e = std::current_exception();
        } catch (...) {
            e = std::current_exception();
        }
        if (!cut) {
            // As a branch fiber ends: claims (waiting while a sibling holds the race), and
            // decides the select if it holds the claim.
            g.claim_to_end(first);
            g.returned(first, std::move(e));
        }
    }
    if (start_error) g.cancel_all();
    g.wait("select", std::source_location::current());
    if (!biased) select_settle(*parent, site, turn, g.first());
    return select_result<result_t>(g, slots, start_error);
}
}  // namespace detail

/// A select branch that takes part only when `cond` is true (Tokio's `if` guard on a select!
/// branch): when false, `f` is never started and cannot win; its alternative in the result
/// is then never the one returned. Use it to leave out a branch that would win at once for
/// nothing, e.g. `weft::when(!set.empty(), [&] { return set.join_next(); })`.
///
/// **Cancellation**: as the branch `f` inside weft::select; `when` itself never suspends.
template <class F>
requires detail::task_callable<F> detail::when_branch<std::decay_t<F>> when(bool cond, F&& f) {
    return {cond, std::forward<F>(f)};
}

/// Runs every `f` concurrently; one wins. Returns std::variant<R0', R1', ...> holding the
/// winner's value at the winner's index (`index()` tells which branch won; the types may
/// repeat; void becomes std::monostate).
///
/// Branches run concurrently on the calling task, as for weft::join: the first one started
/// runs inline on the caller's own fiber, and the others start, each a fiber of the calling
/// task, the first time that branch suspends (parks or yields); a branch that wins without
/// suspending (a receive from a channel that holds a value) starts no other, as a Tokio
/// select! whose first polled future is ready polls no other. The winner is the branch that
/// first *consumes* something from a cancel-safe weft operation (receives a value, takes a
/// lock, permits, a notification, a join result, marks a watch value seen), or, if none did,
/// the first to end (returning or throwing). When the winner ends, every other branch is
/// cancelled (it throws at its current or next cancellation point, so its destructors run;
/// a branch never started is not run) and select waits for all of them before it returns.
/// weft::select_biased starts its branches in argument order. Plain select starts at the
/// branch that won the last select of the same call site in this task (in a loop, mostly the
/// one that is ready), and now and then at another one, in rotation: at every call while
/// the probed branch wins (so branches that are all ready win in turn), half as often after
/// each probe it loses, and at least once in 64 selects (detail::max_probe_gap); so a ready
/// branch wins within 64 * (branches - 1) selects of its call site however busy the others
/// are. Branches disabled with weft::when are not started. A loser that returns a value it
/// computed without consuming anything has that value destroyed.
///
/// In short: a branch wins when it returns, or when it takes a value from a cancel-safe
/// operation; a loop branch that takes a value and goes on to its next operation gives the
/// race back, like a Tokio future that awaits again. So `select([&] { for (;;)
/// handle(listener.accept()); }, [&] { stop.cancelled(); })` ends when `stop` is cancelled:
/// between two accepts, or at once while the loop waits in accept. A branch that becomes
/// ready while the loop branch handles a value (it holds the race until its next operation)
/// waits for that next operation, then wins.
///
/// ```cpp
/// auto r = weft::select([&] { return rx.recv(); },
///                       [&] { weft::sleep_for(1s); });
/// if (r.index() == 1) { /* timed out */ }
/// ```
///
/// Throws: if the winner threw, that exception, after the same wait.
/// std::invalid_argument("weft::select: every branch is disabled") when every branch is a
/// disabled weft::when. Context errors as weft::join.
///
/// **Cancellation**: a cancellation point. What the claim guarantees: a losing branch never
/// consumes anything from a cancel-safe weft operation (mpsc recv and recv_many, oneshot
/// recv, broadcast recv, watch changed, mutex and shared_mutex locks, semaphore acquire,
/// notify notified, join_handle join, join_set join_next, tcp_listener accept, tcp_stream and
/// its read half read_some and read_line, udp_socket recv and recv_from, signal::wait
/// and ctrl_c; cancellation_token cancelled and sender closed consume nothing): the
/// operation decides the race under its own lock (a socket: after readiness, before the
/// read) at the moment it would hand the value over, and a refused branch leaves the value
/// where it was (the next receive gets it). So with cancel-safe operations nothing is lost
/// or taken twice, and a nested select (inside a branch) claims through every enclosing
/// select. The claim
/// stops at a weft::join inside a branch (as a Tokio join of cancel-safe futures is not
/// cancel-safe), at this_task::shield and while unwinding (such waits are granted
/// unconditionally, so a shielded branch can always finish). Aborting the caller (or a
/// timeout around it expiring) cancels every branch and waits for them; if a branch had
/// already consumed something, select returns its value (the caller's next cancellation point
/// throws), otherwise it throws task_cancelled (weft::elapsed from the timeout).
template <class... F>
requires(sizeof...(F) > 0 && (detail::task_callable<F> && ...)) auto select(F&&... f) {
    return detail::select_impl(false, std::forward<F>(f)...);
}

/// weft::select whose branches start in argument order, so that when several are ready at
/// once the lowest index wins (Tokio's `biased;`). Everything else as weft::select.
///
/// **Cancellation**: as weft::select.
template <class... F>
requires(sizeof...(F) > 0 && (detail::task_callable<F> && ...)) auto select_biased(F&&... f) {
    return detail::select_impl(true, std::forward<F>(f)...);
}

/// An operation that weft::select can race without a fiber of its own: what `recv_op()`
/// (mpsc, oneshot, broadcast), `notified_op()`, `cancelled_op()`, `tick_op()`, weft::sleep_until_op
/// and weft::sleep_for_op return. Its `value_type` is what the select returns at its index.
template <class Op>
concept select_operation = detail::select_op_protocol<std::remove_cvref_t<Op>>;

/// Races operations on the calling task's own fiber: the first to complete wins, the others
/// are withdrawn from their queues, and the winner's result is returned in a std::variant at
/// its index, like the callable form. The operations:
///
/// - `rx.recv_op()` of a weft::mpsc receiver: `std::optional<T>`, as `rx.recv()`;
/// - `rx.recv_op()` of a weft::oneshot or weft::broadcast receiver: `T`, throwing
///   channel_closed (and broadcast::lagged) as their `recv()` does;
/// - `n.notified_op()` (weft::notify), `token.cancelled_op()` (weft::cancellation_token):
///   `std::monostate`;
/// - `ticker.tick_op()` (weft::interval): the tick's time point;
/// - weft::sleep_until_op(t), weft::sleep_for_op(d): `std::monostate`.
///
/// ```cpp
/// for (;;) {
///     auto r = weft::select(rx.recv_op(), ticker.tick_op(), stop.cancelled_op());
///     if (r.index() == 0) { if (auto v = std::get<0>(r)) handle(*v); else break; }
///     else if (r.index() == 1) flush();
///     else break;  // stop was cancelled
/// }
/// ```
///
/// No fiber is started, so it costs about as much as one receive (docs/performance.md, the
/// select_ops row), where the callable form starts a fiber for each branch after the first
/// when that one waits (and unwinds the ones that lose). Use the callable form
/// for anything else (a socket read, a join, several steps in one branch); the two nest either
/// way. Operations start in a rotating order (weft::select_biased: in argument order), so that
/// when several are ready at once each wins in turn; the first that completes at once ends the
/// start. An operation object is made for one select call (pass it as a temporary).
///
/// Throws what the winning operation's blocking form throws; std::logic_error when an
/// operation is misused as its blocking form would be (e.g. a receiver already receiving
/// elsewhere); weft::no_runtime from a timer operation off a runtime's worker.
///
/// **Cancellation**: a cancellation point, and cancel-safe: the race is decided by the claim
/// of weft::select (a consuming operation is granted only after it claimed the race, under
/// its primitive's lock), so a losing receive or notification takes nothing and leaves its
/// value or notification in place, and an interval's tick is taken only by a winning
/// tick_op. Aborting the caller (or a timeout around it expiring) withdraws every operation
/// and throws task_cancelled (weft::elapsed from the timeout), unless one was already granted:
/// then its result is returned (the next cancellation point throws). Inside a branch of an
/// enclosing select it claims through it, as any cancel-safe operation does.
template <class... Op>
requires(sizeof...(Op) > 0 && (select_operation<Op> && ...)) auto select(Op&&... op) {
    return detail::op_select<std::remove_reference_t<Op>...>(op...).run(
        false, std::source_location::current());
}

/// weft::select over operations, started in argument order, so that when several are ready
/// at once the lowest index wins (Tokio's `biased;`).
///
/// **Cancellation**: as weft::select over operations.
template <class... Op>
requires(sizeof...(Op) > 0 && (select_operation<Op> && ...)) auto select_biased(Op&&... op) {
    return detail::op_select<std::remove_reference_t<Op>...>(op...).run(
        true, std::source_location::current());
}

}  // namespace weft
