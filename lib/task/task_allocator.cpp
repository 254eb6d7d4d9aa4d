// Task objects come from per-thread free lists by 64-byte size class up to 1 KiB, with a
// process-wide depot of whole batches between the threads.
//
// A task is often freed on another thread than the one that made it: runtime::spawn from a
// plain thread allocates there and every block is freed on a worker. Per-thread lists alone
// then miss on every spawn (the spawning thread never gets a block back) and fall to malloc,
// whose cross-thread frees cost a quarter of spawn_remote's instructions. So each thread keeps
// an `active` list and one full `spare` batch; a thread with too many blocks hands a full
// batch to the depot, and a thread with none takes one back: one lock per `batch` blocks, and
// no list is ever walked.
//
// Under the sanitizers every block goes straight to malloc, so use-after-free and leak reports
// stay exact.
#include <weft/detail/fault_injection.hpp>
#include <weft/detail/task_header.hpp>

#include <array>
#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

namespace weft::detail {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)

void* allocate_task(std::size_t bytes) {
    if (fault::hit(fault::point::task_alloc)) fault::fail(fault::point::task_alloc);
    return ::operator new(bytes);
}
void deallocate_task(void* p, std::size_t bytes) noexcept { ::operator delete(p, bytes); }

#else

namespace {
constexpr std::size_t granule = 64;
constexpr std::size_t classes = 16;            // up to 1 KiB
constexpr std::size_t batch = 512;             // blocks moved to or from the depot at a time
constexpr std::size_t max_depot_batches = 64;  // per class: 32k blocks

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
    std::array<std::vector<free_block*>, classes> batches;  // heads of `batch`-long lists
};

depot& the_depot() {
    static auto* d = new depot;  // outlives every thread that may still free a task
    return *d;
}

std::size_t class_of(std::size_t bytes) noexcept { return (bytes + granule - 1) / granule - 1; }

void free_list(free_block* b, std::size_t c) noexcept {
    while (b) {
        free_block* next = b->next;
        ::operator delete(b, (c + 1) * granule);
        b = next;
    }
}

void release_cached_blocks() noexcept {
    for (std::size_t c = 0; c < classes; ++c) {
        free_list(lists.active[c].head, c);
        free_list(lists.spare[c].head, c);
        lists.active[c] = {};
        lists.spare[c] = {};
    }
}

// Returns the cached blocks to malloc when the thread exits. Set up on the first block a
// thread caches (the slow path), never on the hot path.
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
    if (d.batches[c].empty()) return false;
    lists.active[c] = {d.batches[c].back(), batch};
    d.batches[c].pop_back();
    return true;
}

// The active list of class c holds a full batch: keep it as the spare, passing the old spare
// to the depot (or to malloc when the depot is full).
[[gnu::noinline]] void spill(std::size_t c) noexcept {
    free_block* full = lists.spare[c].head;
    lists.spare[c] = lists.active[c];
    lists.active[c] = {};
    if (!full) return;
    {
        depot& d = the_depot();
        std::lock_guard lock(d.mu);
        if (d.batches[c].size() < max_depot_batches) {
            d.batches[c].push_back(full);
            return;
        }
    }
    free_list(full, c);
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
    return ::operator new((c + 1) * granule);
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
    if (l.count == batch) spill(c);
    auto* b = static_cast<free_block*>(p);
    b->next = l.head;
    l.head = b;
    ++l.count;
}

#endif

}  // namespace weft::detail
