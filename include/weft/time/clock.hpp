// The runtime's clock, and pausing it for tests (Tokio's time::pause/resume/advance).
#pragma once

#include <chrono>

namespace weft {
namespace detail {
void advance_clock(std::chrono::nanoseconds d);
}  // namespace detail

namespace time {

/// The runtime's clock: steady_clock while running, virtual while paused. Deadlines for
/// sleep_until and friends must come from here, never from steady_clock::now(). Off any
/// runtime, steady_clock::now().
std::chrono::steady_clock::time_point now();

/// Freezes the current runtime's clock (both flavours). While paused, time moves only by
/// advance() or, when every task is idle and no blocking-pool work runs, by jumping straight
/// to the next timer: a test that sleeps for an hour finishes at once, timers firing in
/// deadline order. Plain Asio timers are not virtualised. weft::no_runtime off a runtime.
void pause();

/// Lets the clock run again from where it was paused.
void resume();

/// Moves the paused clock forward by `d`, fires every timer now due, and (in a task) yields
/// so the woken tasks run. std::logic_error when the clock is not paused.
template <class Rep, class Period>
void advance(const std::chrono::duration<Rep, Period>& d) {
    detail::advance_clock(std::chrono::ceil<std::chrono::nanoseconds>(d));
}

}  // namespace time
}  // namespace weft
