// timer_heap: a worker's pending timers, ordered on (deadline, arming order) behind a short
// lock. The owner worker inserts; any thread may remove (a task that migrated disarms its
// timer on another worker) or fire due timers. next_ns_ caches the earliest deadline so parked
// workers and the maintenance tick read it without the lock.
//
// Two structures, one order. Most timers are armed no earlier than the one armed before them
// (a burst of sleep_for(d) with one d, an interval's ticks): those are appended to `run_`, a
// ring sorted by construction, where arming and firing are O(1) and touch memory in order. A
// timer due before the run's last one goes to `heap_`, a binary min-heap. Firing takes the
// earlier of the two fronts each time, so timers fire in exactly the (deadline, arming order)
// a single heap gave. With 100k sleepers of 10 ms, the heap alone spent 13% of the timers row
// popping through 17 levels of cache misses, under the lock, while the due tasks waited.
//
// Entries carry their deadline and arming order, and name their timer through a record in a
// dense array that also holds the entry's position: its index in heap_, or (run_bit set) its
// position in the run, a count that only grows, so that the ring's growth and its pops move no
// position. Timers live on their tasks' stacks, spread over the whole stack area: comparing
// through the timer, or writing each moved entry's position back into its timer, cost a cache
// (and often a TLB) miss per heap level. Only firing and removal touch the timer itself, once.
//
// Invariants, under mu_:
//   - the run is the positions [run_begin_, run_end_), entry p at run_[p & (size - 1)] (the
//     ring's size is a power of two), sorted by before(); a removed entry stays as a tombstone
//     (slot == dead, counted in run_dead_) and keeps its deadline, so the order holds; the
//     entry at run_begin_ is live whenever the run is not empty;
//   - each live entry's record holds its position; a record is on the free list otherwise.
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
        std::uint64_t pos;        // index into heap_, or run_bit | position in the run, in use
        std::uint32_t next_free;  // free list link while not
    };
    static constexpr std::uint64_t run_bit = std::uint64_t{1} << 63;
    static constexpr std::uint32_t dead = ~std::uint32_t{0};  // a tombstone's slot

    static bool before(const entry& a, const entry& b) noexcept {
        return a.deadline < b.deadline || (a.deadline == b.deadline && a.seq < b.seq);
    }
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void place(std::size_t i, const entry& e) noexcept {
        heap_[i] = e;
        records_[e.slot].pos = i;
    }
    std::uint32_t take_slot(timer* t);
    /// Frees slot `s`'s record; returns its timer.
    timer* free_slot(std::uint32_t s) noexcept;
    /// Removes heap_[i] and frees its record; returns its timer.
    timer* erase_at(std::size_t i) noexcept;
    [[nodiscard]] bool run_empty() const noexcept { return run_begin_ == run_end_; }
    entry& run_at(std::uint64_t p) noexcept { return run_[p & (run_.size() - 1)]; }
    /// Doubles the ring (it is full), each entry at its position's index in the new size: no
    /// position changes, so no record is touched. May throw bad_alloc, changing nothing.
    void grow_run();
    /// Removes the run's first entry (live) and frees its record; returns its timer.
    timer* pop_run_front() noexcept;
    /// Drops tombstones at the run's front; rewrites the run without tombstones once they
    /// outnumber its live entries.
    void trim_run() noexcept;
    void publish_next() noexcept;

    mutable std::mutex mu_;
    std::vector<entry> heap_;
    std::vector<entry> run_;       // the ring: empty, or a power of two in size
    std::uint64_t run_begin_ = 0;  // the run's first position
    std::uint64_t run_end_ = 0;    // one past its last
    std::uint64_t run_dead_ = 0;   // tombstones in the run
    std::vector<record> records_;
    std::uint32_t free_ = timer::not_queued;  // head of the free records
    std::uint64_t seq_ = 0;
    std::atomic<std::int64_t> next_ns_{none};
};

}  // namespace weft::detail
