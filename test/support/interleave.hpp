// interleave: a small interleaving explorer for the scheduler's lock-free structures, in the
// spirit of Tokio's loom. A *model* is a few logical threads (2-3) over a structure, plus a
// check run once they are done. The explorer runs the model many times, each time under a
// different schedule, and reports the first schedule whose run broke a `require`.
//
// How it controls the schedule: the structures take their atomics and mutex from a Sync
// policy (lib/scheduler/atomics.hpp); `explore::sync` below is one whose every load, store,
// RMW, CAS, fence and lock is a *scheduling point*. The logical threads are real std::threads,
// but only the one holding the token runs; at each scheduling point the holder decides who
// runs next and hands the token over (mutex + condition variable, so TSan sees the hand-offs
// as synchronisation). Each run is therefore one sequential interleaving of the threads'
// atomic operations, and it is deterministic given the list of decisions, so a failing run
// replays from its schedule.
//
// Two ways to pick schedules:
//  - bounded exhaustive (CHESS): depth-first over the decisions, every schedule with at most
//    `preemption_bound` preemptions (a switch away from a thread that could have gone on);
//  - seeded random: `runs` schedules, each from its own seed (a failure prints it).
//
// Memory model: sequentially consistent by default, i.e. every operation acts on memory in
// schedule order, whatever memory_order it names. With `store_buffering`, the explorer models
// x86-TSO: a store that is not seq_cst goes into its thread's FIFO store buffer; the thread's
// own loads see its buffered stores, other threads do not until the store is flushed; a
// seq_cst store, an RMW/CAS, a lock/unlock and a seq_cst fence drain the buffer first. Flushing
// the oldest entry of a buffer is itself a scheduling decision (a preemption when a thread
// could have run instead), so "the store is still in the buffer" is explored like any other
// interleaving. Weaker effects (ARM's or the C++ model's: loads reordered, stores seen in
// different orders by different threads) are not modelled; those are TSan's and review's job.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace weft::explore {

struct options {
    /// Exhaustive mode: the most preemptions one schedule may contain.
    int preemption_bound = 2;
    /// Stop after this many runs (the report says whether the space was exhausted).
    std::size_t max_runs = 1'000'000;
    /// Scheduling points in one run before it is declared a livelock.
    std::size_t max_steps = 10'000;
    /// Model x86-TSO store buffers (see the header).
    bool store_buffering = false;
    /// Treat seq_cst fences as no-ops (to show that a protocol needs its fences).
    bool ignore_fences = false;
};

struct report {
    std::size_t runs = 0;
    bool exhausted = false;  ///< exhaustive mode: every schedule within the bound was run
    bool failed = false;
    std::string failure;        ///< the broken requirement, the seed (random) and the schedule
    std::vector<int> schedule;  ///< the failing run's decisions, for replay()
};

/// Registers the logical threads and the final check of one run. The setup function builds a
/// fresh state for every run (capture it by shared_ptr in the lambdas).
class builder {
   public:
    void thread(std::function<void()> body) { threads_.push_back(std::move(body)); }
    void finally(std::function<void()> check) { finally_ = std::move(check); }

   private:
    friend class controller;
    std::vector<std::function<void()>> threads_;
    std::function<void()> finally_;
};

using setup_fn = std::function<void(builder&)>;

/// Bounded exhaustive exploration (depth-first, preemption-bounded).
report explore_bounded(const setup_fn& setup, const options& opt);
/// `runs` random schedules, seeds first_seed, first_seed + 1, ...
report explore_random(const setup_fn& setup, std::uint64_t first_seed, std::size_t runs,
                      const options& opt);
/// Runs the model once under the given decisions (from a report), then the defaults.
report replay(const setup_fn& setup, const std::vector<int>& schedule, const options& opt);

/// Records a failure of the current run (from a logical thread or the final check) unless
/// `ok`. The run stops at the next scheduling point.
void require(bool ok, const std::string& what);

/// The index of the logical thread calling (0-based), or -1 off the explorer's threads.
int current_thread();

namespace detail {
// A memory location the store buffers can write to.
class cell {
   public:
    virtual void write_bits(std::uint64_t bits) noexcept = 0;

   protected:
    ~cell() = default;
};
// Called by the instrumented types; every one is a scheduling point when called on a logical
// thread of a running exploration, and a plain access otherwise.
bool active() noexcept;
void point();
/// TSO: the calling thread's newest buffered store to `c`, if any.
bool forwarded(const cell* c, std::uint64_t& bits) noexcept;
/// Stores: buffered (TSO, not seq_cst) or applied at once.
void write(cell* c, std::uint64_t bits, std::memory_order o);
/// Drains the calling thread's store buffer (RMW, seq_cst store, fence, lock).
void drain() noexcept;
void fence();
void mutex_lock(void* m, bool& locked);
void mutex_unlock(void* m, bool& locked);
}  // namespace detail

/// An atomic whose every operation is a scheduling point. T: trivially copyable, at most 8
/// bytes (indices, counters, pointers, bool). compare_exchange_weak never fails spuriously.
template <class T>
class atomic final : public detail::cell {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8);

   public:
    atomic() noexcept
        : v_{} {}
    atomic(T v) noexcept
        : v_(v) {}  // NOLINT: mirrors std::atomic
    atomic(const atomic&) = delete;
    atomic& operator=(const atomic&) = delete;

    T load(std::memory_order = std::memory_order_seq_cst) const {
        if (!detail::active()) return v_;
        detail::point();
        std::uint64_t bits = 0;
        if (detail::forwarded(this, bits)) return from_bits(bits);
        return v_;
    }
    void store(T v, std::memory_order o = std::memory_order_seq_cst) {
        if (!detail::active()) {
            v_ = v;
            return;
        }
        detail::point();
        detail::write(this, to_bits(v), o);
    }
    T exchange(T v, std::memory_order = std::memory_order_seq_cst) {
        return rmw([&](T) { return v; });
    }
    T fetch_add(T d, std::memory_order = std::memory_order_seq_cst) {
        return rmw([&](T old) { return static_cast<T>(old + d); });
    }
    T fetch_sub(T d, std::memory_order = std::memory_order_seq_cst) {
        return rmw([&](T old) { return static_cast<T>(old - d); });
    }
    T fetch_or(T d, std::memory_order = std::memory_order_seq_cst) {
        return rmw([&](T old) { return static_cast<T>(old | d); });
    }
    T fetch_and(T d, std::memory_order = std::memory_order_seq_cst) {
        return rmw([&](T old) { return static_cast<T>(old & d); });
    }
    bool compare_exchange_strong(T& expected, T desired,
                                 std::memory_order = std::memory_order_seq_cst,
                                 std::memory_order = std::memory_order_seq_cst) {
        if (detail::active()) {
            detail::point();
            detail::drain();
        }
        if (v_ == expected) {
            v_ = desired;
            return true;
        }
        expected = v_;
        return false;
    }
    bool compare_exchange_weak(T& expected, T desired,
                               std::memory_order o1 = std::memory_order_seq_cst,
                               std::memory_order o2 = std::memory_order_seq_cst) {
        return compare_exchange_strong(expected, desired, o1, o2);
    }

    void write_bits(std::uint64_t bits) noexcept override { v_ = from_bits(bits); }

   private:
    template <class F>
    T rmw(F&& f) {
        if (detail::active()) {
            detail::point();
            detail::drain();
        }
        T old = v_;
        v_ = f(old);
        return old;
    }
    static std::uint64_t to_bits(T v) noexcept {
        std::uint64_t b = 0;
        std::memcpy(&b, &v, sizeof(T));
        return b;
    }
    static T from_bits(std::uint64_t b) noexcept {
        T v;
        std::memcpy(&v, &b, sizeof(T));
        return v;
    }
    T v_;
};

/// A mutex whose lock and unlock are scheduling points; a thread waiting for it is not
/// scheduled until it is released.
class mutex {
   public:
    mutex() = default;
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;
    void lock() { detail::mutex_lock(this, locked_); }
    void unlock() { detail::mutex_unlock(this, locked_); }

   private:
    bool locked_ = false;
};

/// The Sync policy for the structures (see lib/scheduler/atomics.hpp).
struct sync {
    template <class T>
    using atomic = explore::atomic<T>;
    using mutex = explore::mutex;
    using queue_lock = explore::mutex;
    static void fence_seq_cst() { detail::fence(); }
};

}  // namespace weft::explore
