// timer_heap: a worker's pending timers, a binary min-heap on (deadline, arming order) behind
// a short lock. The owner worker inserts; any thread may remove (a task that migrated disarms
// its timer on another worker) or fire due timers. next_ns_ caches the earliest deadline so
// parked workers and the maintenance tick read it without the lock.
#pragma once

#include <weft/detail/timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

namespace weft::detail {

class timer_heap {
   public:
    using time_point = std::chrono::steady_clock::time_point;
    static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

    void insert(timer* t);
    /// Removes `t` if still queued; drops its waker.
    void remove(timer* t) noexcept;
    /// Pops every timer due at `now`, marks it fired and appends its waker to `out` (woken
    /// by the caller after the lock is released, in deadline order).
    void take_due(time_point now, std::vector<waker>& out);

    /// Earliest deadline in steady_clock nanoseconds since epoch, or `none`.
    [[nodiscard]] std::int64_t next_ns() const noexcept {
        return next_ns_.load(std::memory_order_acquire);
    }
    [[nodiscard]] std::size_t size() const;

   private:
    static bool before(const timer* a, const timer* b) noexcept {
        return a->deadline_ < b->deadline_ || (a->deadline_ == b->deadline_ && a->seq_ < b->seq_);
    }
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void place(std::size_t i, timer* t) noexcept {
        heap_[i] = t;
        t->index_ = i;
    }
    void erase_at(std::size_t i) noexcept;
    void publish_next() noexcept;

    mutable std::mutex mu_;
    std::vector<timer*> heap_;
    std::uint64_t seq_ = 0;
    std::atomic<std::int64_t> next_ns_{none};
};

}  // namespace weft::detail
