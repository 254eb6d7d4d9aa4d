// Internal, for weft's own tests: fault injection at the points where the runtime asks the
// system for resources, so the failure paths are exercised rather than hoped for. Not part of
// the public API; it may change without notice.
//
// Always compiled in, inert unless a test arms a point: each point costs one relaxed load of
// a global "anything armed" flag and a branch predicted not taken.
//
// Invariants: any_armed is true while some point is armed (it may stay true briefly after the
// last armed failure was injected, until reset()); the per-point counters live in the library
// behind one mutex, touched only when any_armed is set.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail::fault {

/// Where a failure can be injected.
enum class point : unsigned {
    thread_create,    ///< a blocking-pool thread or a worker thread: std::system_error (EAGAIN)
    task_alloc,       ///< a task's allocation (spawn): std::bad_alloc
    timer_heap_grow,  ///< a worker timer heap's vectors growing: std::bad_alloc
    stack_map,        ///< stack_cache's mmap: fails as mmap does (MAP_FAILED, ENOMEM)
    io_uring_setup,   ///< a worker's io_uring ring: refused as seccomp refuses it (EPERM)
    io_uring_submit,  ///< a ring's submission: refused as under memory pressure (-EAGAIN),
                      ///< the entries staying queued
    lost_notify,      ///< a task queued into a worker's ring tells no parked peer, to check
                      ///< what else bounds a missed notify (never thrown)
};
/// Number of points.
inline constexpr unsigned point_count = 7;

/// Set while some point is armed. Ordering: relaxed both ways. A test arms a point before the
/// operation it wants to fail, and that operation reaches the point through the runtime's own
/// synchronisation (a queue push and pop, a thread start), so the store happens-before the
/// load that must see it; a hit on some unrelated thread may see it late, which only
/// shifts which call counts as the nth.
extern std::atomic<bool> any_armed;

/// Arms `p`: counting from now, calls `nth` .. `nth + times - 1` to hit(p) return true.
void arm(point p, std::uint64_t nth = 1, std::uint64_t times = 1);
/// Disarms every point and clears the counts.
void reset() noexcept;
/// How many failures were injected at `p` since it was armed.
[[nodiscard]] std::uint64_t injected(point p) noexcept;

/// The slow path of hit(), taken only while something is armed.
[[nodiscard]] bool hit_armed(point p) noexcept;

/// True when this call at `p` must fail.
[[nodiscard]] inline bool hit(point p) noexcept {
    if (!any_armed.load(std::memory_order_relaxed)) [[likely]]
        return false;
    return hit_armed(p);
}

/// Throws what the real failure at `p` throws (see point).
[[noreturn]] void fail(point p);

/// Resets every point when it goes out of scope, so a test that fails half-way leaves
/// nothing armed for the next one.
class reset_on_exit {
   public:
    reset_on_exit() = default;
    reset_on_exit(const reset_on_exit&) = delete;
    reset_on_exit& operator=(const reset_on_exit&) = delete;
    ~reset_on_exit() { reset(); }
};

}  // namespace weft::detail::fault
