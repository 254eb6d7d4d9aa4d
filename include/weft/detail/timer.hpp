// timer: a one-shot deadline that wakes a waker, for weft's own waits (sleep, timeout,
// interval). The owner arms it, parks, and checks fired(); destroying or disarming it while
// the deadline is pending cancels it and waits (parking, not cancellable) until the runtime
// no longer refers to it, so it may live on a task's stack.
#pragma once

#include <weft/detail/waker.hpp>

#include <atomic>
#include <chrono>
#include <memory>

namespace weft::detail {

class timer {
   public:
    using time_point = std::chrono::steady_clock::time_point;

    timer() noexcept = default;
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;
    ~timer() { disarm(); }

    /// Arms the timer on the current worker's shard: at `deadline` fired() becomes true, then
    /// `w` is woken. Re-arming an armed timer disarms it first. Off the workers (a plain
    /// thread), the deadline is served by a helper thread.
    void arm(time_point deadline, waker w);
    /// Cancels a pending deadline (waits until the runtime let go of it). Idempotent.
    void disarm() noexcept;
    [[nodiscard]] bool fired() const noexcept { return fired_.load(std::memory_order_acquire); }
    [[nodiscard]] bool armed() const noexcept { return state_ != nullptr; }

   private:
    struct state;
    std::atomic<bool> fired_{false};
    state* state_ = nullptr;
};

/// The runtime's clock: steady_clock::now(), or the virtual time while paused.
std::chrono::steady_clock::time_point clock_now();

}  // namespace weft::detail
