// sleep_for / sleep_until: suspend the current task until a deadline.
#pragma once

#include <chrono>
#include <source_location>

namespace weft {

namespace detail {
void sleep_until_impl(std::chrono::steady_clock::time_point deadline, std::source_location where);
std::chrono::steady_clock::time_point clock_now();  // detail/timer.hpp

template <class Rep, class Period>
std::chrono::nanoseconds ceil_ns(const std::chrono::duration<Rep, Period>& d) {
    return std::chrono::ceil<std::chrono::nanoseconds>(d);
}
}  // namespace detail

/// Suspends the current task (on a plain thread: blocks it) for at least `d`.
/// **Cancellation**: a cancellation point; an abort wakes the task at once and it throws
/// task_cancelled. Nothing is lost.
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d,
               std::source_location where = std::source_location::current()) {
    auto ns = detail::ceil_ns(d);
    if (ns.count() < 0) ns = std::chrono::nanoseconds(0);
    detail::sleep_until_impl(detail::clock_now() + ns, where);
}

/// Suspends until `deadline` (a time point from weft::time::now()). Cancellation as sleep_for.
void sleep_until(std::chrono::steady_clock::time_point deadline,
                 std::source_location where = std::source_location::current());

}  // namespace weft
