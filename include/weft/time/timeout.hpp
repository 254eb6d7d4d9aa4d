// timeout / timeout_at: bound the time a call may take (Tokio's time::timeout, timeout_at).
#pragma once

#include <weft/detail/task_header.hpp>
#include <weft/error.hpp>

#include <chrono>
#include <functional>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {

/// A deadline over a region of the calling task: pushes a cancel_scope and arms a timer
/// whose expiry fires the scope and wakes the task. Needs a task (weft::no_runtime
/// elsewhere; std::logic_error on a worker outside a task).
class timeout_scope {
   public:
    /// `deadline` on the runtime clock; time_point::max() never fires.
    explicit timeout_scope(std::chrono::steady_clock::time_point deadline);
    timeout_scope(const timeout_scope&) = delete;
    timeout_scope& operator=(const timeout_scope&) = delete;
    ~timeout_scope() { close(); }

    /// Disarms the timer and pops the scope (idempotent). Not a cancellation point.
    void close() noexcept;
    /// True when `c` was thrown because this deadline passed.
    [[nodiscard]] bool owns(const scope_cancelled& c) const noexcept;

   private:
    struct state;
    task_header* task_;
    state* state_ = nullptr;
};

/// now + d on the runtime clock (negative d: now), saturating at time_point::max().
std::chrono::steady_clock::time_point deadline_after_ns(std::chrono::nanoseconds d) noexcept;

/// now + d; durations too long to represent in nanoseconds mean "never".
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_after(const std::chrono::duration<Rep, Period>& d) {
    // ~292 years of nanoseconds fit; anything beyond a century is "never".
    constexpr double century_s = 100.0 * 365 * 24 * 3600;
    if (std::chrono::duration<double>(d).count() > century_s) {
        return std::chrono::steady_clock::time_point::max();
    }
    return deadline_after_ns(std::chrono::ceil<std::chrono::nanoseconds>(d));
}

}  // namespace detail

/// Runs `f` inline in the calling task and returns its value, unless the runtime clock
/// reaches `deadline` first (Tokio's time::timeout_at): then `f` is cancelled at its current
/// or next cancellation point (it throws an internal cancellation exception there, so its
/// destructors run) and, once `f` has fully unwound, timeout_at throws weft::elapsed.
///
/// ```cpp
/// auto deadline = weft::time::now() + 2s;   // one budget for several steps
/// weft::timeout_at(deadline, [&] { conn.write_all(boost::asio::buffer(request)); });
/// std::string reply;
/// weft::timeout_at(deadline, [&] { conn.read_line(reply); });
/// ```
///
/// `deadline` is a time point of the runtime clock: take it from weft::time::now() (virtual
/// while the clock is paused), never from steady_clock::now(). A deadline already passed
/// strikes at the first cancellation point inside `f`; time_point::max() never does.
/// Otherwise as weft::timeout: `f` finishing is what counts (a value returned past the
/// deadline is returned), timeouts nest and each elapsed is thrown by the one that owns the
/// deadline, children of weft::join, select, scoped and offload are cancelled and waited
/// for. `f` is decay-copied.
/// Throws: weft::elapsed; f's own exceptions; weft::no_runtime outside a task.
///
/// **Cancellation**: cancellation points inside `f` are where the deadline strikes. An abort
/// of the task passes through as task_cancelled. What the deadline interrupts is lost only
/// as far as the interrupted operation is not cancel-safe (docs/conventions.md).
template <class F>
requires std::invocable<std::decay_t<F>>
auto timeout_at(std::chrono::steady_clock::time_point deadline, F&& f)
    -> std::invoke_result_t<std::decay_t<F>> {
    using R = std::invoke_result_t<std::decay_t<F>>;
    std::decay_t<F> fn(std::forward<F>(f));
    detail::timeout_scope scope(deadline);
    try {
        if constexpr (std::is_void_v<R>) {
            std::invoke(std::move(fn));
            return;
        } else {
            return std::invoke(std::move(fn));
        }
    } catch (const detail::scope_cancelled& c) {
        if (!scope.owns(c)) throw;  // an outer deadline: its own timeout reports it
    }
    scope.close();
    throw elapsed();
}

/// Runs `f` inline in the calling task and returns its value, unless `d` elapses first:
/// then `f` is cancelled at its current or next cancellation point (it throws an internal
/// cancellation exception there, so its destructors run) and, once `f` has fully unwound,
/// timeout throws weft::elapsed.
///
/// ```cpp
/// try {
///     auto msg = weft::timeout(500ms, [&] { return rx.recv(); });
/// } catch (const weft::elapsed&) {
///     // no message within 500 ms; rx is intact (recv is cancel-safe)
/// }
/// ```
///
/// `f` finishing is what counts: if it returns after the deadline (it never reached a
/// cancellation point) its value is returned. Timeouts nest: the earliest deadline fires,
/// and each weft::elapsed is thrown by the timeout that owns the deadline (an outer deadline
/// passes through inner timeouts). A timeout around weft::join, select, scoped or offload
/// cancels their children and waits for them before throwing. `f` is decay-copied.
///
/// The deadline is on the runtime clock (weft::time::now(); virtual while paused).
/// Throws: weft::elapsed; f's own exceptions; weft::no_runtime outside a task (a plain
/// thread has no cancellation points to interrupt f at).
///
/// **Cancellation**: cancellation points inside `f` are where the deadline strikes. An abort
/// of the task passes through as task_cancelled. What the deadline interrupts is lost only
/// as far as the interrupted operation is not cancel-safe (docs/conventions.md).
template <class Rep, class Period, class F>
requires std::invocable<std::decay_t<F>>
auto timeout(const std::chrono::duration<Rep, Period>& d, F&& f)
    -> std::invoke_result_t<std::decay_t<F>> {
    return weft::timeout_at(detail::deadline_after(d), std::forward<F>(f));
}

}  // namespace weft
