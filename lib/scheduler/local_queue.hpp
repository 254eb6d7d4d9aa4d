// local_queue: a worker's bounded run queue. The owner pushes at the tail and pops at the
// head; any other worker may steal half of it from the head (Tokio's multi_thread queue).
//
// head packs two 32-bit indices: `steal` (where an in-progress stealer started) and `real`
// (the next entry to pop). steal != real means a stealer is copying entries out; the owner
// must then not overflow (it cannot move entries a stealer is reading), and no second
// stealer may start.
// Invariants (indices compared modulo 2^32): steal <= real <= tail and tail - steal <= capacity
// (checked in debug builds by check_indices()); entries [real, tail) are queued, [steal, real)
// are being copied by the one active stealer; a stealer takes ceil(len / 2) <= capacity / 2
// entries; only the owner moves tail, and only a stealer that claimed [steal, real) moves steal.
// Ordering: the owner publishes entries with a release store of tail; stealers read tail with
// acquire before copying and claim entries with an acq_rel CAS on head. The owner reads head
// with acquire before reusing a slot, so it never overwrites an entry still being copied.
// Waking a peer for a pushed entry is the caller's business (idle::worker_to_notify, which
// fences before it reads the idle state: see idle.hpp).
#pragma once

#include "atomics.hpp"
#include "inject_queue.hpp"

#include <weft/detail/assert.hpp>
#include <weft/detail/task_header.hpp>

#include <array>
#include <cstdint>

#ifndef WEFT_LOCAL_QUEUE_CAPACITY
#define WEFT_LOCAL_QUEUE_CAPACITY 256
#endif

namespace weft::detail {

/// T: the element (task_header in production; any type with `T* queue_next_` in tests), Sync:
/// see atomics.hpp, Capacity: a power of two.
template <class T, class Sync = std_sync, std::uint32_t Capacity = WEFT_LOCAL_QUEUE_CAPACITY>
class basic_local_queue {
   public:
    static constexpr std::uint32_t capacity = Capacity;
    static_assert(capacity >= 2 && (capacity & (capacity - 1)) == 0,
                  "local queue capacity: a power of two, at least 2");
    static constexpr std::uint32_t mask = capacity - 1;
    using overflow_queue = basic_inject_queue<T, Sync>;

    /// Owner only. On a full queue, moves half of it plus `t` to `overflow` and returns true.
    bool push_back(T* t, overflow_queue& overflow) {
        for (;;) {
            std::uint64_t head = head_.load(std::memory_order_acquire);
            auto [steal, real] = unpack(head);
            std::uint32_t tail = tail_.load(std::memory_order_relaxed);
            check_indices(steal, real, tail);
            if (tail - steal < capacity) {
                buf_[tail & mask].store(t, std::memory_order_relaxed);
                tail_.store(tail + 1, std::memory_order_release);
                return false;
            }
            if (steal != real) {
                // A stealer is freeing space right now; hand this one task to the global queue.
                overflow.push(t);
                return true;
            }
            if (push_overflow(t, real, tail, overflow)) return true;
            // Lost a race with a stealer: there is room now.
        }
    }

    /// Owner only: pushes while there is room; the caller guarantees room (see remaining()).
    void push_back_unchecked(T* t) {
        std::uint32_t tail = tail_.load(std::memory_order_relaxed);
        WEFT_ASSERT(tail - unpack(head_.load(std::memory_order_acquire)).steal < capacity,
                    "push_back_unchecked on a full local queue");
        buf_[tail & mask].store(t, std::memory_order_relaxed);
        tail_.store(tail + 1, std::memory_order_release);
    }

    /// Owner only.
    T* pop() {
        std::uint64_t head = head_.load(std::memory_order_acquire);
        for (;;) {
            auto [steal, real] = unpack(head);
            std::uint32_t tail = tail_.load(std::memory_order_relaxed);
            check_indices(steal, real, tail);
            if (real == tail) return nullptr;
            std::uint32_t next_real = real + 1;
            std::uint64_t next =
                steal == real ? pack(next_real, next_real) : pack(steal, next_real);
            if (head_.compare_exchange_weak(head, next, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return buf_[real & mask].load(std::memory_order_relaxed);
            }
        }
    }

    /// Any thread: steals half of this queue into `dst` (whose owner is the caller) and
    /// returns one of the stolen tasks to run now, or null. `stolen` receives the count.
    T* steal_into(basic_local_queue& dst, std::uint32_t& stolen) {
        WEFT_ASSERT(&dst != this, "a worker never steals from itself");
        stolen = 0;
        std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);
        auto [dst_steal, dst_real] = unpack(dst.head_.load(std::memory_order_acquire));
        (void)dst_real;
        if (dst_tail - dst_steal > capacity / 2) return nullptr;  // no room for half of ours

        std::uint32_t n = steal_half(dst, dst_tail);
        if (n == 0) return nullptr;
        WEFT_ASSERT(dst_tail + n - dst_steal <= capacity, "stolen entries fit in dst");
        stolen = n;
        --n;
        T* ret = dst.buf_[(dst_tail + n) & mask].load(std::memory_order_relaxed);
        if (n > 0) dst.tail_.store(dst_tail + n, std::memory_order_release);
        return ret;
    }

    [[nodiscard]] std::uint32_t len() const {
        auto [steal, real] = unpack(head_.load(std::memory_order_acquire));
        (void)steal;
        return tail_.load(std::memory_order_acquire) - real;
    }
    [[nodiscard]] bool is_empty() const { return len() == 0; }
    /// Owner only: free slots.
    [[nodiscard]] std::uint32_t remaining() const {
        auto [steal, real] = unpack(head_.load(std::memory_order_acquire));
        (void)real;
        return capacity - (tail_.load(std::memory_order_relaxed) - steal);
    }

   private:
    static std::uint64_t pack(std::uint32_t steal, std::uint32_t real) {
        return (static_cast<std::uint64_t>(steal) << 32) | real;
    }
    struct halves {
        std::uint32_t steal, real;
    };
    static halves unpack(std::uint64_t v) {
        return {static_cast<std::uint32_t>(v >> 32), static_cast<std::uint32_t>(v)};
    }
    /// Debug builds: steal <= real <= tail, and no more than `capacity` entries in use. Only
    /// meaningful where `tail` is exact, i.e. on the owner's thread.
    static void check_indices([[maybe_unused]] std::uint32_t steal,
                              [[maybe_unused]] std::uint32_t real,
                              [[maybe_unused]] std::uint32_t tail) {
        WEFT_ASSERT(real - steal <= tail - steal,
                    "steal <= real <= tail (a stealer or pop overtook)");
        WEFT_ASSERT(tail - steal <= capacity, "tail - head never exceeds the capacity");
    }

    bool push_overflow(T* t, std::uint32_t head, std::uint32_t tail, overflow_queue& overflow) {
        constexpr std::uint32_t n = capacity / 2;
        WEFT_ASSERT(tail - head == capacity, "overflow only moves entries out of a full queue");
        (void)tail;
        std::uint64_t prev = pack(head, head);
        // Claim half of the entries; fails if a stealer got in first.
        if (!head_.compare_exchange_strong(prev, pack(head + n, head + n),
                                           std::memory_order_release, std::memory_order_relaxed)) {
            return false;
        }
        T* first = nullptr;
        T* last = nullptr;
        for (std::uint32_t i = 0; i < n; ++i) {
            T* e = buf_[(head + i) & mask].load(std::memory_order_relaxed);
            e->queue_next_ = nullptr;
            if (last)
                last->queue_next_ = e;
            else
                first = e;
            last = e;
        }
        t->queue_next_ = nullptr;
        last->queue_next_ = t;
        overflow.push_batch(first, t, n + 1);
        return true;
    }

    std::uint32_t steal_half(basic_local_queue& dst, std::uint32_t dst_tail) {
        std::uint64_t prev = head_.load(std::memory_order_acquire);
        std::uint64_t next = 0;
        std::uint32_t n = 0;
        for (;;) {
            auto [src_steal, src_real] = unpack(prev);
            if (src_steal != src_real) return 0;  // another stealer is active
            std::uint32_t src_tail = tail_.load(std::memory_order_acquire);
            n = src_tail - src_real;
            n -= n / 2;
            if (n == 0) return 0;
            next = pack(src_steal, src_real + n);
            if (head_.compare_exchange_weak(prev, next, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                break;
            }
        }
        // A successful claim read a consistent (head, tail): at most half, rounded up.
        WEFT_ASSERT(n <= capacity / 2, "a stealer takes at most half of the queue");
        std::uint32_t first = unpack(next).steal;
        for (std::uint32_t i = 0; i < n; ++i) {
            T* e = buf_[(first + i) & mask].load(std::memory_order_relaxed);
            dst.buf_[(dst_tail + i) & mask].store(e, std::memory_order_relaxed);
        }
        // Done copying: let the owner reuse those slots.
        prev = next;
        for (;;) {
            auto [steal, real] = unpack(prev);
            WEFT_ASSERT(steal == first, "only the active stealer moves `steal`");
            WEFT_ASSERT(real - steal >= n, "the owner never pops below a stealer's claim");
            if (head_.compare_exchange_weak(prev, pack(real, real), std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return n;
            }
        }
    }

    alignas(64) typename Sync::template atomic<std::uint64_t> head_{0};
    alignas(64) typename Sync::template atomic<std::uint32_t> tail_{0};
    std::array<typename Sync::template atomic<T*>, capacity> buf_{};
};

using local_queue = basic_local_queue<task_header>;

}  // namespace weft::detail
