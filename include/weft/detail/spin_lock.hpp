// detail::spin_lock: the one spin lock of the library, for critical sections of a few
// instructions that never suspend, never block and never call user code (waiter lists, the
// live-task list's shards, the global run queue), where a pthread mutex costs more than the
// work it protects.
#pragma once

#include <atomic>
#include <thread>

namespace weft::detail {

/// A test-and-test-and-set lock. Spins with a pause, then yields the thread, so a holder
/// preempted by the OS does not burn a core for long.
class spin_lock {
   public:
    spin_lock() noexcept = default;
    spin_lock(const spin_lock&) = delete;
    spin_lock& operator=(const spin_lock&) = delete;

    void lock() noexcept {
        // Ordering: acquire pairs with unlock's release (plain mutual exclusion).
        while (locked_.exchange(true, std::memory_order_acquire)) {
            for (unsigned i = 0; locked_.load(std::memory_order_relaxed); ++i) {
                if (i < 64) {
                    cpu_relax();
                } else {
                    std::this_thread::yield();
                }
            }
        }
    }
    bool try_lock() noexcept {
        return !locked_.load(std::memory_order_relaxed) &&
               !locked_.exchange(true, std::memory_order_acquire);
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

    /// The pause between two looks of a spin (also the scheduler's spin before a park).
    static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield" ::: "memory");
#endif
    }

   private:
    std::atomic<bool> locked_{false};
};

}  // namespace weft::detail
