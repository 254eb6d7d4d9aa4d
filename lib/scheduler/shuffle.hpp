// shuffle: a run-time mode that perturbs scheduling from a seed, so the whole suite meets
// interleavings it would rarely see on a quiet machine (Seastar's shuffle mode is the model).
//
// Switched on by the environment: WEFT_SHUFFLE=<seed> (a decimal number) or WEFT_SHUFFLE=1
// for a seed drawn from the clock. The seed is printed once per process on stderr, so a
// failing run names it and WEFT_SHUFFLE=<seed> replays the same choices (each worker draws
// from its own generator, seeded from the seed and its index; which thread runs when is the
// OS's, so a replay repeats the decisions, not every interleaving).
//
// What it perturbs, within what the scheduler's contracts allow (nothing here may break a
// promise that code relies on; each one is a promise that code must not rely on beyond):
//   - the next pick: the LIFO task sent to the back of the ring, the pinned list rotated, the
//     global queue looked at first (worker::shuffle_order); the timer-ready list keeps its
//     order (sleepers due together run in firing order, a promise of the timers);
//   - park(): one time in eight it returns at once as a spurious wake-up (the task yields
//     instead), which every waiter must handle (detail/park.hpp);
//   - ready operations (consume_budget): one time in eight they yield, as an exhausted
//     cooperative budget would;
//   - the paused clock's auto-advance stalls between its first and last look at the idle
//     state (stall()), as a preempted thread would, so the check it relies on is exercised.
// Off (the default), the cost is one well-predicted branch on a worker flag per pick.
#pragma once

#include <cstdint>

namespace weft::detail::shuffle {

/// Whether WEFT_SHUFFLE was set when the process started.
bool enabled() noexcept;
/// The seed in force (0 when off).
std::uint64_t seed() noexcept;

/// Holds the calling thread for a moment drawn from a per-thread generator (nothing, a
/// yield, or up to 50 us), as a preemption at that point would.
void stall() noexcept;

/// splitmix64 step: a fixed, portable generator, so a seed means the same choices everywhere.
inline std::uint64_t next(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace weft::detail::shuffle
