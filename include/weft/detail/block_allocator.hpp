// weft's small-block allocator: per-thread free lists by 64-byte size class up to 1 KiB, with
// a process-wide depot of whole batches between the threads (lib/task/task_allocator.cpp).
// Tasks come from it, and so does the memory Asio needs for a use_fiber operation.
#pragma once

#include <cstddef>

namespace weft::detail {

/// A block of at least `bytes`, aligned for any scalar type; larger than 1 KiB: operator new.
void* allocate_task(std::size_t bytes);
/// Returns a block from allocate_task with the same `bytes`, on any thread.
void deallocate_task(void* p, std::size_t bytes) noexcept;

/// A standard allocator over allocate_task, for the associated allocator of weft's Asio
/// handlers. Asio's own recycling cache serves only code running inside io_context::run, and a
/// task starts its operations outside it: every socket wait went to malloc, and was freed on
/// the completing thread (a sixth of tcp_echo's instructions).
template <class T>
struct block_allocator {
    using value_type = T;
    block_allocator() noexcept = default;
    template <class U>
    block_allocator(const block_allocator<U>&) noexcept {}  // NOLINT: rebinding converts
    T* allocate(std::size_t n) {
        static_assert(alignof(T) <= alignof(std::max_align_t), "over-aligned Asio operation");
        return static_cast<T*>(allocate_task(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { deallocate_task(p, n * sizeof(T)); }
    template <class U>
    friend bool operator==(const block_allocator&, const block_allocator<U>&) noexcept {
        return true;
    }
};

}  // namespace weft::detail
