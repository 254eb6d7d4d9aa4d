// atomics: the one place the scheduler's lock-free structures get their atomics, mutex and
// fences from. local_queue, inject_queue and idle take a `Sync` policy as a template argument
// (default std_sync, below); the production aliases (local_queue, inject_queue, idle) use it,
// and the interleaving explorer (test/support/interleave.hpp) instantiates the same templates
// with atomics whose every operation is a scheduling point it controls.
//
// Why a template argument rather than a macro that swaps the type: the explorer's test binary
// also links libweft, which holds the production instantiation. A macro would give the same
// class two definitions in one program (an ODR violation the dynamic linker resolves by
// picking either copy); a template argument gives the instrumented one a different name.
//
// A Sync policy provides:
//   template <class T> using atomic   std::atomic's interface (load, store, fetch_add,
//                                     fetch_sub, compare_exchange_weak/strong, exchange)
//   using mutex                       lockable by std::lock_guard (may sleep: the idle
//                                     protocol's lock, held across a notify)
//   using queue_lock                  lockable by std::lock_guard, for sections of a few
//                                     instructions that never block (the global queue)
//   static void fence_seq_cst()       std::atomic_thread_fence(std::memory_order_seq_cst)
#pragma once

#include <weft/detail/spin_lock.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace weft::detail {

/// Adds `by` to a counter that only one thread writes and any thread may read (relaxed): a
/// relaxed load and store, not a read-modify-write, so no lock prefix on the paths that count
/// (each poll, each resumption). A reader sees some recent value, never a torn one.
inline void single_writer_add(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

struct std_sync {
    template <class T>
    using atomic = std::atomic<T>;
    using mutex = std::mutex;
    // Why a spin lock for the global queue: its sections are a few pointer moves, and three
    // threads meet on it at once when a thread outside the workers spawns while both workers
    // are hungry. Under std::mutex they put each other to sleep in the futex (1,300-1,900
    // voluntary switches in a slow round of 100k remote spawns, against 1-2 with this lock);
    // docs/performance.md, "spawn_remote", has the numbers.
    using queue_lock = spin_lock;
    static void fence_seq_cst() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }
};

}  // namespace weft::detail
