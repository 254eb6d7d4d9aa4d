// Stack mapping, the guard-page budget and the slab fallback. See stack_cache.hpp.
#include "stack_cache.hpp"

#include <weft/detail/fault_injection.hpp>

#include <fmt/core.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <stdexcept>
#include <unordered_map>

// Linux 6.13's guard regions; Debian 12's headers predate them. A kernel without them refuses
// the advice with EINVAL, which allocate_stack() takes as "use the older kinds".
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_HAVE_VALGRIND 1
#endif

namespace weft::detail {
namespace {

constexpr std::size_t slab_stacks = 64;

std::size_t page_size() noexcept {
    static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return p;
}

// How many guarded stacks the process may hold: each costs two mappings, and the rest of
// the process (heap arenas, thread stacks, libraries, sockets' epoll) needs some too.
std::size_t guarded_budget() {
    static const std::size_t budget = [] {
        std::size_t max_maps = 65530;
        std::ifstream in("/proc/sys/vm/max_map_count");
        if (in) in >> max_maps;
        constexpr std::size_t reserve = 8192;
        return max_maps > reserve ? (max_maps - reserve) / 2 : 0;
    }();
    return budget;
}

std::atomic<std::size_t> guarded_live{0};
std::atomic<bool> warned_slab{false};

// The free stacks of one kind of slab: bases, by mapped size.
struct slab_registry {
    std::mutex mu;
    std::unordered_map<std::size_t, std::vector<void*>> free;
};
// Never destroyed: stacks may be released late.
slab_registry& slabs() {  // without guard pages (older kernels, past the guarded budget)
    static auto* r = new slab_registry;
    return *r;
}
slab_registry& guarded_slabs() {  // each stack's lowest page a guard region
    static auto* r = new slab_registry;
    return *r;
}

void register_with_valgrind([[maybe_unused]] const fiber_stack& s) {
#ifdef WEFT_HAVE_VALGRIND
    // The id is not kept: valgrind only needs to know the range is a stack.
    (void)VALGRIND_STACK_REGISTER(s.bottom(), s.top());
#endif
}

// Set when the kernel refused guard regions (the first guarded slab finds out). Relaxed: a
// thread that has not seen it yet only asks the kernel again and gets the same answer.
std::atomic<bool> guard_regions_refused{false};

// Anonymous memory for stacks, reserved but not committed: MAP_FAILED when the kernel (or an
// injected stack_map fault) refuses.
void* map_stack_memory(std::size_t bytes) noexcept {
    return fault::hit(fault::point::stack_map)
               ? MAP_FAILED
               : ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
}

// Maps room for slab_stacks stacks of `size` bytes. Out of memory here means out of memory
// for every kind of stack: the caller has no fallback.
char* map_slab(std::size_t size) {
    void* p = map_stack_memory(size * slab_stacks);
    if (p == MAP_FAILED) {
        throw std::runtime_error(
            fmt::format("weft: cannot map {} bytes for fiber stacks (out of memory or address "
                        "space)",
                        size * slab_stacks));
    }
    return static_cast<char*>(p);
}

// Hands a new slab's stacks to `list`, the lowest last (it is taken first).
void add_slab(std::vector<void*>& list, char* slab, std::size_t size) {
    for (std::size_t i = slab_stacks; i-- > 0;) list.push_back(slab + i * size);
}

void return_to_slab(slab_registry& r, const fiber_stack& s) noexcept {
    std::lock_guard lock(r.mu);
    r.free[s.len].push_back(s.base);
}

fiber_stack pop_stack(std::vector<void*>& list, std::size_t size, stack_kind kind) {
    fiber_stack s{list.back(), size, kind};
    list.pop_back();
    return s;
}

// A stack from a guarded slab, or a stack of kind none when the kernel refuses guard regions.
fiber_stack allocate_guarded_slab_stack(std::size_t size) {
    auto& r = guarded_slabs();
    std::lock_guard lock(r.mu);
    auto& list = r.free[size];
    if (list.empty()) {
        char* slab = map_slab(size);
        for (std::size_t i = 0; i < slab_stacks; ++i) {
            if (::madvise(slab + i * size, page_size(), MADV_GUARD_INSTALL) == 0) continue;
            const int err = errno;
            ::munmap(slab, size * slab_stacks);
            if (err == EINVAL && i == 0) {
                guard_regions_refused.store(true, std::memory_order_relaxed);
                return {};
            }
            // The kernel took the advice before (or for the first stacks): this is a page
            // table it could not allocate.
            throw std::runtime_error(fmt::format(
                "weft: cannot install the guard pages of fiber stacks ({})", std::strerror(err)));
        }
        add_slab(list, slab, size);
    }
    return pop_stack(list, size, stack_kind::guarded_slab);
}

fiber_stack allocate_slab_stack(std::size_t size) {
    auto& r = slabs();
    std::lock_guard lock(r.mu);
    auto& list = r.free[size];
    if (list.empty()) add_slab(list, map_slab(size), size);
    return pop_stack(list, size, stack_kind::slab);
}

// Kernels without guard regions: a stack in its own mapping with an mprotect'ed guard page,
// while the budget allows; kind none when it does not, or when the kernel refuses.
fiber_stack allocate_guarded_stack(std::size_t size) {
    if (guarded_live.load(std::memory_order_relaxed) >= guarded_budget()) return {};
    void* p = map_stack_memory(size);
    if (p == MAP_FAILED) return {};
    if (::mprotect(p, page_size(), PROT_NONE) != 0) {
        ::munmap(p, size);
        return {};
    }
    guarded_live.fetch_add(1, std::memory_order_relaxed);
    return {p, size, stack_kind::guarded};
}

// The best kind the kernel and the budget allow, in the order the header gives.
fiber_stack choose_stack(std::size_t size) {
    if (!guard_regions_refused.load(std::memory_order_relaxed)) {
        if (fiber_stack s = allocate_guarded_slab_stack(size); s.kind != stack_kind::none) return s;
    }
    if (fiber_stack s = allocate_guarded_stack(size); s.kind != stack_kind::none) return s;
    if (!warned_slab.exchange(true, std::memory_order_relaxed)) {
        std::fprintf(
            stderr,
            "weft: warning: %zu live fibers have guarded stacks, close to the "
            "vm.max_map_count limit; further stacks come from shared slabs without "
            "guard pages, so stack overflow detection is now best effort (the stack "
            "pointer is checked at each switch). Raise vm.max_map_count to keep guard pages.\n",
            guarded_live.load(std::memory_order_relaxed));
    }
    return allocate_slab_stack(size);
}

}  // namespace

std::size_t fiber_stack::guard() const noexcept {
    return has_guard_page(static_cast<std::uint8_t>(kind)) ? page_size() : 0;
}

std::size_t mapped_stack_size(std::size_t requested) noexcept {
#if defined(__SANITIZE_ADDRESS__)
    requested *= 2;  // ASan's redzones and fake frames make frames larger
#endif
    std::size_t p = page_size();
    return ((requested + p - 1) / p) * p + p;  // + the guard page
}

fiber_stack allocate_stack(std::size_t size) {
    fiber_stack s = choose_stack(size);
    register_with_valgrind(s);
    return s;
}

void deallocate_stack(const fiber_stack& s) noexcept {
    switch (s.kind) {
        case stack_kind::none:
            return;
        case stack_kind::guarded:
            ::munmap(s.base, s.len);
            guarded_live.fetch_sub(1, std::memory_order_relaxed);
            return;
        case stack_kind::guarded_slab:
        case stack_kind::slab:
            // The pages go back to the system as an unmapped stack's would, and the range to
            // its slab; a guard region stays (MADV_DONTNEED leaves guard markers), so the range
            // is ready for its next task. On a mapped private anonymous range it does not fail;
            // if it did, the pages would only stay resident.
            (void)::madvise(s.bottom(), s.usable(), MADV_DONTNEED);
            return_to_slab(s.kind == stack_kind::guarded_slab ? guarded_slabs() : slabs(), s);
            return;
    }
}

namespace {
// Spare stacks beyond the workers' own caches, shared by the process: after a burst of
// parked tasks (100k sleepers, say) their stacks are kept with their pages resident, so the
// next burst reuses them hot instead of faulting in fresh pages (microseconds each; see
// docs/performance.md). trim_spare_stacks() gives them back once they went unused for a while.
constexpr std::size_t max_spare = 1U << 17;
constexpr auto spare_idle_limit = std::chrono::seconds(5);

struct spare_stacks {
    std::mutex mu;
    std::vector<fiber_stack> stacks;
    std::chrono::steady_clock::time_point last_used{};
    std::atomic<std::size_t> count{0};
};
spare_stacks& spares() {
    static auto* s = new spare_stacks;  // outlives every runtime
    return *s;
}
}  // namespace

void trim_spare_stacks() noexcept {
    auto& sp = spares();
    if (sp.count.load(std::memory_order_relaxed) == 0) return;
    std::vector<fiber_stack> drop;
    {
        std::lock_guard lock(sp.mu);
        if (std::chrono::steady_clock::now() - sp.last_used < spare_idle_limit) return;
        drop.swap(sp.stacks);
        sp.count.store(0, std::memory_order_relaxed);
    }
    for (auto& s : drop) deallocate_stack(s);
}

stack_cache::~stack_cache() {
    for (auto& s : free_) give_spare(s);
}

void stack_cache::give_spare(const fiber_stack& s) noexcept {
    auto& sp = spares();
    {
        std::lock_guard lock(sp.mu);
        if (sp.stacks.size() < max_spare) {
            sp.stacks.push_back(s);
            sp.last_used = std::chrono::steady_clock::now();
            sp.count.store(sp.stacks.size(), std::memory_order_relaxed);
            return;
        }
    }
    deallocate_stack(s);
}

fiber_stack stack_cache::take(std::size_t size) {
    if (size == default_) {
        if (!free_.empty()) {
            fiber_stack s = free_.back();
            free_.pop_back();
            return s;
        }
        auto& sp = spares();
        if (sp.count.load(std::memory_order_relaxed) != 0) {
            std::lock_guard lock(sp.mu);
            // Refill a batch, so the lock is taken once per many spawns.
            for (std::size_t i = sp.stacks.size(); i-- > 0 && free_.size() < max_ / 2;) {
                if (sp.stacks[i].len != size) continue;
                free_.push_back(sp.stacks[i]);
                sp.stacks[i] = sp.stacks.back();
                sp.stacks.pop_back();
            }
            sp.last_used = std::chrono::steady_clock::now();
            sp.count.store(sp.stacks.size(), std::memory_order_relaxed);
            if (!free_.empty()) {
                fiber_stack s = free_.back();
                free_.pop_back();
                return s;
            }
        }
    }
    ++fresh_;
    return allocate_stack(size);
}

void stack_cache::give(const fiber_stack& s) noexcept {
    if (s.len != default_) {
        deallocate_stack(s);
        return;
    }
    if (free_.size() >= max_) {
        // Full: hand half to the process-wide spares under one lock (as take() refills),
        // not one locked push per finished task while a burst of tasks ends.
        auto& sp = spares();
        std::size_t keep = max_ / 2;
        {
            std::lock_guard lock(sp.mu);
            while (free_.size() > keep && sp.stacks.size() < max_spare) {
                sp.stacks.push_back(free_.back());
                free_.pop_back();
            }
            sp.last_used = std::chrono::steady_clock::now();
            sp.count.store(sp.stacks.size(), std::memory_order_relaxed);
        }
        while (free_.size() > keep) {
            deallocate_stack(free_.back());
            free_.pop_back();
        }
    }
    free_.push_back(s);
}

}  // namespace weft::detail
