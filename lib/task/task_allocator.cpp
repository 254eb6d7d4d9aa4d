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
// Blocks are carved from chunks of `batch` blocks of one class, each one anonymous mapping,
// taken when a thread finds no block of its class anywhere, its pages populated by the mapping
// call. One malloc per block made a cold burst slow: each fresh page was a fault (11-15 us on
// this kind of VM) and glibc grew a thread's arena one page at a time, each step an mprotect
// under the process's address-space lock. Spawning 100k tasks spent 91% of its time in malloc
// (1.3-2.6 us a spawn against 278 ns with blocks reused) and held its worker past the
// blocked-worker threshold (docs/performance.md, "The timers row's slow mode").
//
// Invariants:
//   - every block of class c lies in exactly one chunk of class c, listed in the depot's
//     `chunks[c]`, and is in exactly one place: a task (allocated), a thread's active or
//     spare list, or one of the depot's lists;
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
std::size_t task_block_chunks() noexcept { return 0; }

#else

namespace {
constexpr std::size_t granule = 64;
constexpr std::size_t classes = 16;  // up to 1 KiB
constexpr std::size_t batch = 512;   // blocks per chunk, and moved to or from the depot at a time
// What the depot keeps of a class before a trim may give whole chunks back (32k blocks).
constexpr std::size_t max_depot_blocks = 64 * batch;

constexpr std::size_t block_size(std::size_t c) noexcept { return (c + 1) * granule; }

struct free_block {
    free_block* next;
};

struct block_list {
    free_block* head;
    std::size_t count;
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
    std::array<std::vector<char*>, classes> chunks;      // bases of the live chunks
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
    if (!lists.cleanup_armed) arm_cleanup();
    return true;
}

// A chunk is its own anonymous mapping, its pages populated by the mapping call: on this kind
// of VM the first touch of a page costs 11-15 us as a fault, and a burst of 100k spawns
// touched 7,800 fresh pages of task blocks one fault at a time.
char* map_chunk(std::size_t span) {
    void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<char*>(p);
}
void unmap_chunk(char* base, std::size_t span) noexcept { ::munmap(base, span); }

// No block of class c anywhere: carve a fresh chunk, return its first block and make the rest
// this thread's active list. Throws std::bad_alloc as a plain new would.
[[gnu::noinline]] void* carve(std::size_t c) {
    const std::size_t size = block_size(c);
    const std::size_t span = size * batch;
    depot& d = the_depot();
    char* chunk = map_chunk(span);
    {
        std::lock_guard lock(d.mu);
        try {
            d.chunks[c].push_back(chunk);
        } catch (...) {
            unmap_chunk(chunk, span);
            throw;
        }
    }
    if (!lists.cleanup_armed) arm_cleanup();
    free_block* head = nullptr;
    for (std::size_t i = batch; i-- > 1;) {
        auto* b = reinterpret_cast<free_block*>(chunk + i * size);
        b->next = head;
        head = b;
    }
    lists.active[c] = {head, batch - 1};
    return chunk;
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
    const std::size_t span = block_size(c) * batch;
    std::vector<std::uintptr_t> blocks;
    blocks.reserve(d.held[c]);
    for (const block_list& l : d.lists[c]) {
        for (free_block* b = l.head; b; b = b->next)
            blocks.push_back(reinterpret_cast<std::uintptr_t>(b));
    }
    std::vector<char*>& chunks = d.chunks[c];
    std::sort(chunks.begin(), chunks.end(), std::less<>());
    std::sort(blocks.begin(), blocks.end());
    // Every allocation comes before the first chunk is freed: a bad_alloc must leave the
    // depot as it was.
    std::vector<char*> keep_chunks;
    keep_chunks.reserve(chunks.size());
    std::vector<free_block*> keep_blocks;
    keep_blocks.reserve(blocks.size());
    d.lists[c].reserve((blocks.size() + batch - 1) / batch);
    // Both sorted, and every block lies in one chunk: walk them together, counting each
    // chunk's blocks in the depot.
    std::size_t freed = 0;
    auto b = blocks.begin();
    for (char* base : chunks) {
        const auto begin = reinterpret_cast<std::uintptr_t>(base);
        auto first = b;
        while (b != blocks.end() && *b < begin + span) ++b;
        if (static_cast<std::size_t>(b - first) == batch) {
            unmap_chunk(base, span);
            ++freed;
        } else {
            keep_chunks.push_back(base);
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
    if (!lists.cleanup_armed) [[unlikely]]
        arm_cleanup();
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

std::size_t task_block_chunks() noexcept {
    depot& d = the_depot();
    std::lock_guard lock(d.mu);
    std::size_t n = 0;
    for (const auto& v : d.chunks) n += v.size();
    return n;
}

#endif

}  // namespace weft::detail
