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

/// The chunks of task blocks mapped now, in use or not, and their mappings' bytes (tests and
/// diagnostics; both 0 under the sanitizers).
struct task_block_mappings {
    std::size_t chunks = 0;
    std::size_t bytes = 0;
};
task_block_mappings mapped_task_blocks() noexcept;

}  // namespace weft::detail
