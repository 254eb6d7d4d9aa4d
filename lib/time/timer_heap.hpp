// timer_heap: a worker's pending timers, a binary min-heap on (deadline, arming order) behind
// a short lock. The owner worker inserts; any thread may remove (a task that migrated disarms
// its timer on another worker) or fire due timers. next_ns_ caches the earliest deadline so
// parked workers and the maintenance tick read it without the lock.
//
// Entries carry their deadline and arming order, and name their timer through a record in a
// dense array that also holds the entry's heap position. Timers live on their tasks' stacks,
// spread over the whole stack area: comparing through the timer, or writing each moved entry's
// position back into its timer, cost a cache (and often a TLB) miss per heap level, and with
// 100k sleepers popping through a 17-level heap made firing the bottleneck of the timers row.
// Now only firing and removal touch the timer itself, once.
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
    /// Sets `t`'s deadline and waker, clears its fired flag, then inserts it: what timer::arm
    /// does once it has picked the heap. Lets the structure tests drive a heap without a
    /// runtime (the timer's own heap pointer stays null, so its destructor does not disarm:
    /// the caller removes or fires it first).
    void insert(timer* t, time_point deadline, waker w);
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
    struct entry {
        time_point deadline;
        std::uint64_t seq;   // arming order: ties fire in that order, deterministically
        std::uint32_t slot;  // index into records_
    };
    struct record {
        timer* t;
        std::uint32_t pos;        // index into heap_ while in use
        std::uint32_t next_free;  // free list link while not
    };

    static bool before(const entry& a, const entry& b) noexcept {
        return a.deadline < b.deadline || (a.deadline == b.deadline && a.seq < b.seq);
    }
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void place(std::size_t i, const entry& e) noexcept {
        heap_[i] = e;
        records_[e.slot].pos = static_cast<std::uint32_t>(i);
    }
    std::uint32_t take_slot(timer* t);
    /// Removes heap_[i] and frees its record; returns its timer.
    timer* erase_at(std::size_t i) noexcept;
    void publish_next() noexcept;

    mutable std::mutex mu_;
    std::vector<entry> heap_;
    std::vector<record> records_;
    std::uint32_t free_ = timer::not_queued;  // head of the free records
    std::uint64_t seq_ = 0;
    std::atomic<std::int64_t> next_ns_{none};
};

}  // namespace weft::detail
