// Fiber stacks. A stack is taken when a task first runs (not at spawn), so queued tasks cost
// only their header; freed stacks of the default size go back to the worker's cache and are
// reused hot (a fresh page costs microseconds, docs/performance.md; a cached one nothing).
//
// Three kinds of stack:
//   guarded_slab  carved from a shared mapping of 64 stacks, its lowest page made a guard
//            region with MADV_GUARD_INSTALL (Linux 6.13): an overflow faults, and the SIGSEGV
//            handler names the task. A guard region does not split the mapping, so the slab is
//            one entry of vm.max_map_count whatever its stacks do. Freed pages go back to the
//            system (MADV_DONTNEED, which keeps the guard), the address range to the slab.
//            The default wherever the kernel accepts the advice.
//   guarded  (kernels without it) its own mapping with a PROT_NONE guard page below it,
//            overflow caught the same way. Costs two entries of vm.max_map_count.
//   slab     (kernels without it, past the guarded budget) carved from a shared mapping, no
//            guard page; the saved stack pointer is checked at every switch-out. Used once
//            guarded stacks would push the process near vm.max_map_count (65530 by default,
//            ~28k guarded stacks), with one warning that overflow detection became best effort.
//            Freed pages go back to the system as a guarded slab's do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft::detail {

enum class stack_kind : std::uint8_t { none = 0, guarded = 1, slab = 2, guarded_slab = 3 };

/// Whether a stack of this kind (task_header::stack_kind()'s value) has a guard page at its
/// base, where an overflow faults.
constexpr bool has_guard_page(std::uint8_t kind) noexcept {
    return kind == static_cast<std::uint8_t>(stack_kind::guarded) ||
           kind == static_cast<std::uint8_t>(stack_kind::guarded_slab);
}

struct fiber_stack {
    void* base = nullptr;  // lowest address of the mapping (the guard page, if any)
    std::size_t len = 0;   // whole mapping
    stack_kind kind = stack_kind::none;

    [[nodiscard]] std::size_t guard() const noexcept;
    /// Lowest usable address.
    [[nodiscard]] void* bottom() const noexcept { return static_cast<char*>(base) + guard(); }
    [[nodiscard]] std::size_t usable() const noexcept { return len - guard(); }
    [[nodiscard]] void* top() const noexcept { return static_cast<char*>(base) + len; }
};

/// Rounds a requested stack size to what is mapped (page multiple; doubled under ASan).
std::size_t mapped_stack_size(std::size_t requested) noexcept;

/// Maps a new stack (from a guarded slab where the kernel installs guard regions; else guarded
/// while the budget allows, then from a slab). Throws std::runtime_error naming the size when
/// memory or mappings run out.
fiber_stack allocate_stack(std::size_t mapped_size);
/// Returns a stack to the process (unmaps a guarded one; gives a slab one's pages back and
/// recycles its range).
void deallocate_stack(const fiber_stack& s) noexcept;

/// False when a fiber on slab stack `s` switched out with its stack pointer at (or past) the
/// bottom: an overflow the missing guard page could not catch (always true for guarded
/// stacks, which fault instead).
inline bool saved_context_in_bounds(const fiber_stack& s, const void* saved_sp) noexcept {
    // A slab stack has no guard page: a fiber that switches out with its stack pointer in
    // the lowest few hundred bytes (or below) has overflowed, or is about to. Checking the
    // saved pointer, not a canary word, keeps the bottom page untouched (not resident).
    // Inline: it runs at every switch-out. A slab stack's bottom is its base (no guard).
    constexpr std::uintptr_t red_zone = 512;
    return s.kind != stack_kind::slab || reinterpret_cast<std::uintptr_t>(saved_sp) >=
                                             reinterpret_cast<std::uintptr_t>(s.base) + red_zone;
}

/// Releases the process-wide spare stacks once they have been unused for a few seconds
/// (called by idle workers).
void trim_spare_stacks() noexcept;

/// Per-worker cache of stacks of the default size. Owner thread only. Overflow goes to a
/// process-wide spare list (kept hot until trimmed), then back to the system.
class stack_cache {
   public:
    explicit stack_cache(std::size_t default_mapped, std::size_t max_cached = 512)
        : default_(default_mapped),
          max_(max_cached) {}
    stack_cache(const stack_cache&) = delete;
    stack_cache& operator=(const stack_cache&) = delete;
    ~stack_cache();

    fiber_stack take(std::size_t mapped_size);
    void give(const fiber_stack& s) noexcept;
    /// How many of the stacks taken so far were newly mapped (not reused).
    [[nodiscard]] std::uint64_t fresh_count() const noexcept { return fresh_; }

   private:
    static void give_spare(const fiber_stack& s) noexcept;
    std::size_t default_;
    std::size_t max_;
    std::vector<fiber_stack> free_;
    std::uint64_t fresh_ = 0;
};

}  // namespace weft::detail
