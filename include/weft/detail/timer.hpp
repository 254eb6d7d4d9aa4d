// timer: a one-shot deadline that wakes a waker, for weft's own waits (sleep, timeout,
// interval). The owner arms it, parks, and checks fired(). Timers live in a heap per worker;
// any awake worker fires due timers, and a parking worker sleeps until the earliest one. While
// the runtime's clock is paused, time moves only by time::advance or, when every task is idle,
// by jumping to the next deadline.
// A timer may live on a task's stack: once fired() is seen or disarm() returned, the runtime
// no longer refers to it.
#pragma once

#include <weft/detail/wait_status.hpp>
#include <weft/detail/waker.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace weft::detail {

class timer_heap;

class timer {
   public:
    using time_point = std::chrono::steady_clock::time_point;

    timer() noexcept = default;
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;
    ~timer() { disarm(); }

    /// Arms the timer in the current worker's heap: once the runtime's clock reaches
    /// `deadline`, fired() becomes true and `w` is woken. Re-arming disarms first. Needs a
    /// worker (weft::no_runtime elsewhere).
    void arm(time_point deadline, waker w);
    /// Cancels a pending deadline. Idempotent; never waits.
    void disarm() noexcept;
    [[nodiscard]] bool fired() const noexcept { return fired_.load(std::memory_order_acquire); }
    [[nodiscard]] time_point deadline() const noexcept { return deadline_; }

   private:
    friend class timer_heap;
    static constexpr std::uint32_t not_queued = ~std::uint32_t{0};

    time_point deadline_{};
    std::uint32_t slot_ = not_queued;  // this timer's record in heap_, guarded by its lock
    timer_heap* heap_ = nullptr;       // where it was armed (set and cleared by the owner only)
    waker waker_;                      // guarded by heap_'s lock while queued
    std::atomic<bool> fired_{false};
};

/// The runtime's clock: steady_clock::now(), or the virtual time while paused. Off any
/// runtime, steady_clock::now().
std::chrono::steady_clock::time_point clock_now();

/// The waiting half of a select operation that completes at a deadline (sleep_until_op,
/// interval::tick_op), in the terms of detail/select_op.hpp. Reaching the deadline consumes
/// nothing, so it never claims: the select claims for it when it sees it fired.
class deadline_wait {
   public:
    std::uint32_t start(std::chrono::steady_clock::time_point deadline, const waker& w) {
        if (clock_now() >= deadline) return wait_status::granted;
        tm_.arm(deadline, w.clone());
        return wait_status::waiting;
    }
    [[nodiscard]] std::uint32_t status() const noexcept {
        // Ordering: fired() is an acquire pairing with the firing thread's release.
        return tm_.fired() ? wait_status::granted : wait_status::waiting;
    }
    /// True when the timer had not fired: it is out of its heap now and never fires.
    bool withdraw() noexcept {
        tm_.disarm();
        return !tm_.fired();
    }

   private:
    timer tm_;
};

}  // namespace weft::detail
