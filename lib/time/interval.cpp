// interval: the schedule arithmetic of Tokio's Interval (poll_tick / MissedTickBehavior),
// on weft's sleep_until and the runtime clock.
#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/timer.hpp>
#include <weft/time/interval.hpp>
#include <weft/time/sleep.hpp>

#include <stdexcept>

namespace weft {

namespace {
// Lateness below this is jitter, not a missed tick (Tokio uses the same 5 ms).
constexpr std::chrono::milliseconds tolerance{5};
}  // namespace

interval::interval(checked, std::chrono::steady_clock::time_point start,
                   std::chrono::nanoseconds period)
    : next_(start),
      period_(period) {
    if (period.count() <= 0) {
        throw std::invalid_argument("weft::interval: the period must be positive");
    }
}

std::chrono::steady_clock::time_point interval::now() { return detail::clock_now(); }

std::chrono::steady_clock::time_point interval::tick(std::source_location where) {
    // A tick is consumed when the schedule moves on, so in a select branch it is taken only
    // after the branch claimed the select (detail/select_claim.hpp): a branch refused because
    // another one holds the race leaves next_ alone, and the next tick() returns this tick.
    for (;;) {
        detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
        if (detail::clock_now() < next_) {
            sleep_until(next_, where);  // throws before anything changed: cancel-safe
        } else {
            detail::consume_budget(where);  // a due tick is still a cancellation point
        }
        if (detail::claim_current()) break;
        detail::wait_reopened("interval::tick", where);  // took nothing; retry once reopened
    }
    return take_tick();
}

std::chrono::steady_clock::time_point interval::take_tick() {
    const auto due = next_;
    const auto now = detail::clock_now();
    if (now <= due + tolerance) {
        next_ = due + period_;
    } else {
        switch (behavior_) {
            case missed_tick_behavior::burst:
                next_ = due + period_;
                break;
            case missed_tick_behavior::delay:
                next_ = now + period_;
                break;
            case missed_tick_behavior::skip:
                // The next point of the original grid after now.
                next_ = now + period_ - (now - due) % period_;
                break;
        }
    }
    return due;
}

void interval::reset() { next_ = detail::clock_now() + period_; }

}  // namespace weft
