// interval: ticks at a fixed period (Tokio's time::Interval).
#pragma once

#include <weft/detail/select_claim.hpp>
#include <weft/detail/timer.hpp>

#include <chrono>
#include <cstdint>
#include <source_location>

namespace weft {

/// What interval::tick does after ticks were missed (the caller was busy or suspended for
/// longer than a period). Example, period 10 ms, ticks due at 0, 10, 20, ... ms, and the
/// caller stalls so that the tick due at 10 is only asked for at 35 ms:
/// - burst (default, Tokio's): the missed ticks fire at once to catch up: ticks return at
///   35 (due 10), 35 (due 20), 35 (due 30), then 40, 50, ... The schedule is kept.
/// - delay: the schedule restarts from the late tick: returns at 35 (due 10), then 45, 55,
///   ... (each one period after the previous tick returned).
/// - skip: missed ticks are dropped and the schedule is kept: returns at 35 (due 10), then
///   40, 50, ...
/// A tick less than 5 ms late counts as on time (as in Tokio): the next is due one period
/// after it was due, whatever the behaviour.
enum class missed_tick_behavior { burst, delay, skip };

/// Ticks every `period` on the runtime clock (virtual while paused). The first tick
/// completes immediately.
///
/// ```cpp
/// weft::interval every(100ms);
/// for (;;) {
///     every.tick();   // now, +100 ms, +200 ms, ...
///     poll_sensors();
/// }
/// ```
///
/// Single owner: not for concurrent use. Works in a task (suspends) and on a plain thread
/// (blocks).
class interval {
   public:
    /// First tick now. std::invalid_argument if `period` is not positive.
    template <class Rep, class Period>
    explicit interval(const std::chrono::duration<Rep, Period>& period)
        : interval(checked{}, now(), std::chrono::ceil<std::chrono::nanoseconds>(period)) {}
    /// First tick at `start` (a time point from weft::time::now()).
    template <class Rep, class Period>
    interval(std::chrono::steady_clock::time_point start,
             const std::chrono::duration<Rep, Period>& period)
        : interval(checked{}, start, std::chrono::ceil<std::chrono::nanoseconds>(period)) {}

    /// Waits until the next tick is due and returns the time it was scheduled for (not the
    /// time it actually completed).
    /// **Cancellation**: a cancellation point (also when the tick is already due); cancel-
    /// safe: an interrupted tick is not consumed, the next tick() returns it. In a
    /// weft::select branch the tick is consumed only once the branch has won, so a tick due
    /// in the instant another branch wins is returned by the next tick().
    std::chrono::steady_clock::time_point tick(
        std::source_location where = std::source_location::current());

    class tick_operation;

    /// tick() as an operation of weft::select over operations (no fiber of its own):
    /// `weft::select(rx.recv_op(), ticker.tick_op())`. Completes with the tick's time point;
    /// the schedule moves on only when it wins, so a tick that loses is the next one taken.
    /// **Cancellation**: as tick() (weft::select over operations).
    [[nodiscard]] tick_operation tick_op() noexcept;

    /// Restarts the schedule: the next tick is due one period from now.
    void reset();

    /// How missed ticks are handled from now on; see missed_tick_behavior.
    void set_missed_tick_behavior(missed_tick_behavior b) noexcept { behavior_ = b; }
    /// The current missed-tick behaviour.
    [[nodiscard]] missed_tick_behavior get_missed_tick_behavior() const noexcept {
        return behavior_;
    }
    /// The period given to the constructor.
    [[nodiscard]] std::chrono::nanoseconds period() const noexcept { return period_; }

   private:
    struct checked {};
    interval(checked, std::chrono::steady_clock::time_point start, std::chrono::nanoseconds period);
    static std::chrono::steady_clock::time_point now();
    // Takes the due tick: moves the schedule on (the missed-tick behaviour) and returns it.
    std::chrono::steady_clock::time_point take_tick();

    std::chrono::steady_clock::time_point next_;
    std::chrono::nanoseconds period_;
    missed_tick_behavior behavior_ = missed_tick_behavior::burst;
};

/// What interval::tick_op() returns: one tick() for weft::select over operations.
class interval::tick_operation {
   public:
    /// What weft::select returns at this operation's index.
    using value_type = std::chrono::steady_clock::time_point;
    tick_operation(const tick_operation&) = delete;
    tick_operation& operator=(const tick_operation&) = delete;

    /// The select_op protocol (weft/detail/select_op.hpp); called by weft::select only.
    std::uint32_t start(const detail::claim_record*, const detail::waker& w) {
        return wait_.start(owner_->next_, w);
    }
    /// The select_op protocol: the status of the queued waiter.
    [[nodiscard]] std::uint32_t status() const noexcept { return wait_.status(); }
    /// The select_op protocol: leaves the queue (true if it was still queued).
    bool withdraw() noexcept { return wait_.withdraw(); }
    /// The select_op protocol: the winner's result.
    value_type finish(std::uint32_t) { return owner_->take_tick(); }

   private:
    friend class interval;
    explicit tick_operation(interval* owner) noexcept
        : owner_(owner) {}
    interval* owner_;
    detail::deadline_wait wait_;
};

inline interval::tick_operation interval::tick_op() noexcept { return tick_operation(this); }

}  // namespace weft
