// Task objects come from per-thread free lists by 64-byte size class up to 1 KiB, with a
// process-wide depot of batches between the threads.
//
// A task is often freed on another thread than the one that made it: runtime::spawn from a
// plain thread allocates there and every block is freed on a worker. Per-thread lists alone
// then miss on every spawn (the spawning thread never gets a block back) and fall to malloc,
// whose cross-thread frees cost a quarter of spawn_remote's instructions. So each thread keeps
// an `active` list and one full `spare` batch; a thread with too many blocks hands a full
// batch to the depot, and a thread with none takes one back: one lock per `batch` blocks, and
// no list is ever walked on those paths.
//
// Blocks are carved from chunks of one class, each one anonymous mapping, taken when a thread
// finds no block of its class anywhere and faulted in whole at once. One malloc per block
// made a cold burst slow: each fresh page was a fault (11-15 us on this kind of VM) and glibc
// grew a thread's arena one page at a time, each step an mprotect under the process's
// address-space lock. Spawning 100k tasks spent 91% of its time in malloc (1.3-2.6 us a spawn
// against 278 ns with blocks reused) and held its worker past the blocked-worker threshold
// (docs/performance.md, "The timers row's slow mode").
//
// A class's first `small_chunks` chunks hold one batch each, in 4 KiB pages, so a program
// with few tasks maps little. A class that needs more is in a burst: its later chunks are
// 2 MiB-aligned regions asked to be one transparent huge page each, many batches at once. On
// a VM with shadow page tables even a populated 4 KiB page costs ~5 us at its first touch,
// and 32 MiB of them ~90 ms; as huge pages the same 32 MiB took 2-4 ms (docs/performance.md,
// "Huge chunks"). Where the kernel gives no huge page the region is 4 KiB pages as before.
//
// Invariants:
//   - every block of class c lies in exactly one chunk of class c, listed in the depot's
//     `chunks[c]` with its block count, and is in exactly one place: a task (allocated), a
//     thread's active or spare list, or one of the depot's lists;
//   - a chunk is unmapped only whole, by trim_task_blocks, once all its blocks are in
//     the depot's lists; blocks are never freed one by one;
//   - the depot's lists and chunk records change only under its lock.
//
// Under the sanitizers every block goes straight to malloc, so use-after-free and leak reports
// stay exact.
#include "task_allocator.hpp"

#include <weft/detail/fault_injection.hpp>
#include <weft/detail/task_header.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <vector>

#include <sys/mman.h>

namespace weft::detail {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)

void* allocate_task(std::size_t bytes) {
    if (fault::hit(fault::point::task_alloc)) fault::fail(fault::point::task_alloc);
    return ::operator new(bytes);
}
void deallocate_task(void* p, std::size_t bytes) noexcept { ::operator delete(p, bytes); }
std::size_t trim_task_blocks(std::chrono::nanoseconds) noexcept { return 0; }
task_block_mappings mapped_task_blocks() noexcept { return {}; }

#else

namespace {
constexpr std::size_t granule = 64;
constexpr std::size_t classes = 16;  // up to 1 KiB
constexpr std::size_t batch = 512;   // blocks moved to or from the depot at a time
// What the depot keeps of a class before a trim may give whole chunks back (32k blocks).
constexpr std::size_t max_depot_blocks = 64 * batch;
// Chunks of one batch a class maps before it maps huge ones (4,096 blocks, 256 KiB-4 MiB).
constexpr std::size_t small_chunks = 8;
constexpr std::size_t huge_page = std::size_t{2} << 20;

constexpr std::size_t block_size(std::size_t c) noexcept { return (c + 1) * granule; }
// Whole batches only, so the carving thread can hand all but one to the depot as they are.
constexpr std::size_t huge_chunk_blocks(std::size_t c) noexcept {
    return huge_page / block_size(c) / batch * batch;
}
static_assert(huge_chunk_blocks(classes - 1) >= batch, "a huge chunk holds a batch of any class");

struct free_block {
    free_block* next;
};

struct block_list {
    free_block* head;
    std::size_t count;
};

struct chunk {
    char* base;
    std::size_t blocks;  // from base on, each block_size(c)
    std::size_t mapped;  // bytes of the mapping at base
};

// Trivially destructible, so every access is one %fs-relative load: a thread_local with a
// destructor goes through an init guard and __tls_get_addr on each use (3% of skynet).
struct free_lists {
    std::array<block_list, classes> active;
    std::array<block_list, classes> spare;  // empty or exactly `batch` blocks
    bool cleanup_armed;
};

[[gnu::tls_model("initial-exec")]] constinit thread_local free_lists lists{};

struct depot {
    std::mutex mu;
    std::array<std::vector<block_list>, classes> lists;  // none empty
    std::array<std::size_t, classes> held{};             // blocks in lists[c]
    std::array<std::vector<chunk>, classes> chunks;      // the live chunks
    std::chrono::steady_clock::time_point last_used{};
    // Some class holds more than max_depot_blocks: idle workers' trim_task_blocks then looks.
    std::atomic<bool> over{false};

    // Lock held.
    void put(std::size_t c, block_list l) {
        lists[c].push_back(l);
        held[c] += l.count;
        if (held[c] > max_depot_blocks) over.store(true, std::memory_order_relaxed);
        last_used = std::chrono::steady_clock::now();
    }
};

depot& the_depot() {
    static auto* d = new depot;  // outlives every thread that may still free a task
    return *d;
}

std::size_t class_of(std::size_t bytes) noexcept { return (bytes + granule - 1) / granule - 1; }

// The thread exits: its cached blocks go to the depot (they belong to chunks, which only the
// trim may free).
void release_cached_blocks() noexcept {
    depot& d = the_depot();
    std::lock_guard lock(d.mu);
    for (std::size_t c = 0; c < classes; ++c) {
        try {
            if (lists.active[c].head) d.put(c, lists.active[c]);
            if (lists.spare[c].head) d.put(c, lists.spare[c]);
        } catch (const std::bad_alloc&) {
            // The depot's vector could not grow: these blocks stay unused (their chunks are
            // never wholly free again), which is a leak, not a fault.
        }
        lists.active[c] = {};
        lists.spare[c] = {};
    }
}

// Returns the cached blocks to the depot when the thread exits. Set up on the first block a
// thread caches or carves (a slow path), never on the hot path.
[[gnu::noinline]] void arm_cleanup() noexcept {
    struct cleanup {
        ~cleanup() { release_cached_blocks(); }
    };
    thread_local cleanup c;
    (void)c;
    lists.cleanup_armed = true;
}

// Every path that leaves blocks in this thread's lists goes through here first: refill,
// carve, and deallocate (one inline test on the hot path).
inline void ensure_cleanup() noexcept {
    if (!lists.cleanup_armed) [[unlikely]]
        arm_cleanup();
}

// The active list of class c is empty: refill it from the spare batch or the depot.
[[gnu::noinline]] bool refill(std::size_t c) noexcept {
    if (lists.spare[c].head) {
        lists.active[c] = lists.spare[c];
        lists.spare[c] = {};
        return true;
    }
    depot& d = the_depot();
    std::lock_guard lock(d.mu);
    if (d.lists[c].empty()) return false;
    lists.active[c] = d.lists[c].back();
    d.lists[c].pop_back();
    d.held[c] -= lists.active[c].count;
    d.last_used = std::chrono::steady_clock::now();
    // A thread that only allocates (runtime::spawn from a plain thread) must still hand its
    // list back when it exits, or its blocks' chunks are never wholly free again.
    ensure_cleanup();
    return true;
}

// A small chunk is its own anonymous mapping, its pages populated by the mapping call: on
// this kind of VM the first touch of a page costs 11-15 us as a fault, and a burst of 100k
// spawns touched 7,800 fresh pages of task blocks one fault at a time.
chunk map_small_chunk(std::size_t c) {
    const std::size_t bytes = block_size(c) * batch;
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return {static_cast<char*>(p), batch, bytes};
}

// A huge chunk: twice its size mapped, the aligned 2 MiB kept and marked for a transparent
// huge page before anything touches it; the carve's writes then fault it in, one fault for the
// whole page. MAP_POPULATE would fault in 4 KiB pages before the advice could apply, and
// MADV_POPULATE_WRITE zeroes the page holding the address-space lock, which stalled the other
// worker's stack mappings for milliseconds (docs/architecture.md, "Task blocks"). Where the
// advice is refused (THP off) the region fills in 4 KiB pages at those same writes.
chunk map_huge_chunk(std::size_t c) {
    void* p =
        ::mmap(nullptr, 2 * huge_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto* raw = static_cast<char*>(p);
    const auto at = reinterpret_cast<std::uintptr_t>(raw);
    auto* base = reinterpret_cast<char*>((at + huge_page - 1) & ~(huge_page - 1));
    // The head is empty when the mapping came aligned; the tail never is.
    if (base != raw) ::munmap(raw, static_cast<std::size_t>(base - raw));
    ::munmap(base + huge_page, static_cast<std::size_t>(raw + huge_page - base));
    (void)::madvise(base, huge_page, MADV_HUGEPAGE);
    return {base, huge_chunk_blocks(c), huge_page};
}

void unmap_chunk(const chunk& k) noexcept { ::munmap(k.base, k.mapped); }

// No block of class c anywhere: carve a fresh chunk, return its first block, make the rest of
// its first batch this thread's active list, and hand its other batches to the depot. Throws
// std::bad_alloc as a plain new would.
[[gnu::noinline]] void* carve(std::size_t c) {
    const std::size_t size = block_size(c);
    depot& d = the_depot();
    bool huge = false;
    {
        std::lock_guard lock(d.mu);
        huge = d.chunks[c].size() >= small_chunks;
    }
    const chunk k = huge ? map_huge_chunk(c) : map_small_chunk(c);
    const std::size_t batches = k.blocks / batch;
    auto link = [&](std::size_t first, std::size_t n) {
        free_block* head = nullptr;
        for (std::size_t i = first + n; i-- > first;) {
            auto* b = reinterpret_cast<free_block*>(k.base + i * size);
            b->next = head;
            head = b;
        }
        return block_list{head, n};
    };
    // The batches after the first, each linked in place before the lock is taken (writing the
    // links is what touches, and without huge pages faults in, the chunk's memory); batch i
    // then starts at block i * batch.
    for (std::size_t i = 1; i < batches; ++i) link(i * batch, batch);
    // Room for `extra` more, growing geometrically: an exact reserve per carve would copy the
    // whole vector on every one.
    auto make_room = [](auto& v, std::size_t extra) {
        if (v.capacity() - v.size() < extra) v.reserve(std::max(v.size() + extra, 2 * v.size()));
    };
    {
        std::lock_guard lock(d.mu);
        try {
            make_room(d.chunks[c], 1);
            make_room(d.lists[c], batches - 1);
        } catch (...) {
            unmap_chunk(k);
            throw;
        }
        // Nothing below throws: the chunk is published with all its batches at once.
        d.chunks[c].push_back(k);
        for (std::size_t i = 1; i < batches; ++i)
            d.put(c, {reinterpret_cast<free_block*>(k.base + i * batch * size), batch});
    }
    ensure_cleanup();
    lists.active[c] = link(1, batch - 1);
    return k.base;
}

// The active list of class c holds a full batch: keep it as the spare, passing the old spare
// to the depot.
[[gnu::noinline]] void spill(std::size_t c) noexcept {
    block_list full = lists.spare[c];
    lists.spare[c] = lists.active[c];
    lists.active[c] = {};
    if (!full.head) return;
    depot& d = the_depot();
    std::lock_guard lock(d.mu);
    try {
        d.put(c, full);
    } catch (const std::bad_alloc&) {
        // Kept by this thread instead (its active list was just emptied).
        lists.active[c] = full;
    }
}

// Lock held. Frees the chunks of class c whose every block is in the depot, and rebuilds the
// depot's lists from the blocks of the chunks that stay. Returns the chunks freed.
std::size_t trim_class(depot& d, std::size_t c) {
    const std::size_t size = block_size(c);
    std::vector<std::uintptr_t> blocks;
    blocks.reserve(d.held[c]);
    for (const block_list& l : d.lists[c]) {
        for (free_block* b = l.head; b; b = b->next)
            blocks.push_back(reinterpret_cast<std::uintptr_t>(b));
    }
    std::vector<chunk>& chunks = d.chunks[c];
    std::sort(chunks.begin(), chunks.end(),
              [](const chunk& a, const chunk& b) { return std::less<>()(a.base, b.base); });
    std::sort(blocks.begin(), blocks.end());
    // Every allocation comes before the first chunk is freed: a bad_alloc must leave the
    // depot as it was.
    std::vector<chunk> keep_chunks;
    keep_chunks.reserve(chunks.size());
    std::vector<free_block*> keep_blocks;
    keep_blocks.reserve(blocks.size());
    d.lists[c].reserve((blocks.size() + batch - 1) / batch);
    // Both sorted, and every block lies in one chunk: walk them together, counting each
    // chunk's blocks in the depot.
    std::size_t freed = 0;
    auto b = blocks.begin();
    for (const chunk& k : chunks) {
        const auto begin = reinterpret_cast<std::uintptr_t>(k.base);
        auto first = b;
        while (b != blocks.end() && *b < begin + k.blocks * size) ++b;
        if (static_cast<std::size_t>(b - first) == k.blocks) {
            unmap_chunk(k);
            ++freed;
        } else {
            keep_chunks.push_back(k);
            for (auto i = first; i != b; ++i)
                keep_blocks.push_back(reinterpret_cast<free_block*>(*i));
        }
    }
    chunks.swap(keep_chunks);
    d.lists[c].clear();
    d.held[c] = 0;
    for (std::size_t i = 0; i < keep_blocks.size(); i += batch) {
        std::size_t n = std::min(batch, keep_blocks.size() - i);
        for (std::size_t k = 0; k + 1 < n; ++k) keep_blocks[i + k]->next = keep_blocks[i + k + 1];
        keep_blocks[i + n - 1]->next = nullptr;
        d.lists[c].push_back({keep_blocks[i], n});
        d.held[c] += n;
    }
    return freed;
}
}  // namespace

void* allocate_task(std::size_t bytes) {
    if (fault::hit(fault::point::task_alloc)) fault::fail(fault::point::task_alloc);
    std::size_t c = class_of(bytes);
    if (c >= classes) return ::operator new(bytes);
    block_list& l = lists.active[c];
    if (l.head || refill(c)) {
        free_block* b = l.head;
        l.head = b->next;
        --l.count;
        return b;
    }
    return carve(c);
}

void deallocate_task(void* p, std::size_t bytes) noexcept {
    std::size_t c = class_of(bytes);
    if (c >= classes) {
        ::operator delete(p, bytes);
        return;
    }
    ensure_cleanup();
    block_list& l = lists.active[c];
    if (l.count >= batch) spill(c);  // >: a spill whose depot push failed kept its batch
    auto* b = static_cast<free_block*>(p);
    b->next = l.head;
    l.head = b;
    ++l.count;
}

std::size_t trim_task_blocks(std::chrono::nanoseconds unused_for) noexcept {
    depot& d = the_depot();
    if (!d.over.load(std::memory_order_relaxed)) return 0;
    std::unique_lock lock(d.mu, std::try_to_lock);  // another worker is at it, or a thread
    if (!lock.owns_lock()) return 0;                // refills: not idle, then
    if (std::chrono::steady_clock::now() - d.last_used < unused_for) return 0;
    std::size_t freed = 0;
    for (std::size_t c = 0; c < classes; ++c) {
        if (d.held[c] <= max_depot_blocks) continue;
        try {
            freed += trim_class(d, c);
        } catch (const std::bad_alloc&) {
            // Its scratch vectors, taken before it frees anything: try at a later trim.
        }
    }
    // A class still over holds blocks of chunks partly in use elsewhere: it is looked at again
    // when a later put pushes it over anew.
    d.over.store(false, std::memory_order_relaxed);
    return freed;
}

task_block_mappings mapped_task_blocks() noexcept {
    depot& d = the_depot();
    std::lock_guard lock(d.mu);
    task_block_mappings m;
    for (const auto& v : d.chunks) {
        m.chunks += v.size();
        for (const chunk& k : v) m.bytes += k.mapped;
    }
    return m;
}

#endif

}  // namespace weft::detail
