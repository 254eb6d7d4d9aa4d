// sleep_for / sleep_until: suspend the current task until a deadline.
#pragma once

#include <weft/detail/select_claim.hpp>
#include <weft/detail/timer.hpp>

#include <chrono>
#include <cstdint>
#include <source_location>
#include <variant>

namespace weft {

namespace detail {
void sleep_until_impl(std::chrono::steady_clock::time_point deadline, std::source_location where);

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

/// What weft::sleep_until_op and weft::sleep_for_op return: a sleep for weft::select over
/// operations (no fiber of its own), completing with std::monostate at its deadline.
class sleep_operation {
   public:
    /// What weft::select returns at this operation's index.
    using value_type = std::monostate;
    /// A sleep until `deadline` (a time point from weft::time::now()).
    explicit sleep_operation(std::chrono::steady_clock::time_point deadline) noexcept
        : deadline_(deadline) {}
    sleep_operation(const sleep_operation&) = delete;
    sleep_operation& operator=(const sleep_operation&) = delete;

    /// The select_op protocol (weft/detail/select_op.hpp); called by weft::select only.
    std::uint32_t start(const detail::claim_record*, const detail::waker& w) {
        return wait_.start(deadline_, w);
    }
    /// The select_op protocol: the status of the queued waiter.
    [[nodiscard]] std::uint32_t status() const noexcept { return wait_.status(); }
    /// The select_op protocol: leaves the queue (true if it was still queued).
    bool withdraw() noexcept { return wait_.withdraw(); }
    /// The select_op protocol: the winner's result.
    value_type finish(std::uint32_t) noexcept { return {}; }

   private:
    std::chrono::steady_clock::time_point deadline_;
    detail::deadline_wait wait_;
};

/// sleep_until(deadline) as an operation of weft::select over operations:
/// `weft::select(rx.recv_op(), weft::sleep_until_op(deadline))`. weft::no_runtime when the
/// select runs off a runtime's worker.
/// **Cancellation**: as sleep_until (weft::select over operations).
inline sleep_operation sleep_until_op(std::chrono::steady_clock::time_point deadline) noexcept {
    return sleep_operation(deadline);
}

/// sleep_for(d) as an operation of weft::select over operations: its deadline is now + d,
/// taken when this is called.
/// **Cancellation**: as sleep_for (weft::select over operations).
template <class Rep, class Period>
sleep_operation sleep_for_op(const std::chrono::duration<Rep, Period>& d) {
    auto ns = detail::ceil_ns(d);
    if (ns.count() < 0) ns = std::chrono::nanoseconds(0);
    return sleep_operation(detail::clock_now() + ns);
}

}  // namespace weft
