// spin_lock: a test-and-test-and-set lock for critical sections of a few instructions (the
// live-task list's shards), where a pthread mutex costs more than the work it protects.
// Backs off with `pause`, then yields the thread, so a preempted holder does not burn a core.
#pragma once

#include <atomic>
#include <thread>

namespace weft::detail {

class spin_lock {
   public:
    void lock() noexcept {
        for (unsigned spins = 0;; ++spins) {
            // Ordering: acquire pairs with unlock's release.
            if (!locked_.exchange(true, std::memory_order_acquire)) return;
            while (locked_.load(std::memory_order_relaxed)) {
                if (spins++ < 64) {
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

   private:
    static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }
    std::atomic<bool> locked_{false};
};

}  // namespace weft::detail
