// The task-block allocator's housekeeping (the allocation itself is declared in
// weft/detail/block_allocator.hpp): see task_allocator.cpp.
#pragma once

#include <chrono>
#include <cstddef>

namespace weft::detail {

/// Unmaps the chunks of task blocks that are wholly free, for each size class whose free
/// blocks in the shared depot exceed 32k, once the depot went unused for `unused_for`. Called
/// by idle workers; cheap when there is nothing to do. Returns the chunks unmapped (always 0
/// under the sanitizers, where blocks come from malloc one by one).
std::size_t trim_task_blocks(
    std::chrono::nanoseconds unused_for = std::chrono::seconds(5)) noexcept;

/// Chunks of task blocks mapped now, in use or not (tests and diagnostics).
std::size_t task_block_chunks() noexcept;

/// Bytes of those chunks' mappings.
std::size_t task_block_bytes() noexcept;

}  // namespace weft::detail
