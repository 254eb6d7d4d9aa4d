// The task-block allocator (lib/task/task_allocator.cpp): blocks carved from chunks are
// distinct and usable, survive a trim, a burst maps huge chunks, and its chunks are unmapped
// once the depot holds all their blocks.
#include "task/task_allocator.hpp"

#include <weft/detail/block_allocator.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace {

using weft::detail::allocate_task;
using weft::detail::deallocate_task;

constexpr std::size_t bytes = 100;  // the 128-byte class, which tasks of this suite rarely use

// Allocates n blocks and fills each with its index, byte by byte.
std::vector<unsigned char*> take(std::size_t n) {
    std::vector<unsigned char*> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto* p = static_cast<unsigned char*>(allocate_task(bytes));
        std::memset(p, static_cast<int>(i & 0xff), bytes);
        v.push_back(p);
    }
    return v;
}

// Every block still holds its index (no two blocks overlap) and is aligned for any scalar.
bool intact(const std::vector<unsigned char*>& v) {
    std::set<unsigned char*> seen;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (reinterpret_cast<std::uintptr_t>(v[i]) % alignof(std::max_align_t) != 0) return false;
        if (!seen.insert(v[i]).second) return false;
        for (std::size_t k = 0; k < bytes; ++k) {
            if (v[i][k] != static_cast<unsigned char>(i & 0xff)) return false;
        }
    }
    return true;
}

void give_back(const std::vector<unsigned char*>& v) {
    for (unsigned char* p : v) deallocate_task(p, bytes);
}

}  // namespace

TEST_CASE("task blocks are distinct, aligned and reusable", "[task][allocator]") {
    auto a = take(5000);
    CHECK(intact(a));
    give_back(a);
    auto b = take(5000);  // from the lists the first round filled
    CHECK(intact(b));
    give_back(b);
}

TEST_CASE("a burst's chunks of task blocks are unmapped once all are free", "[task][allocator]") {
    // 40k blocks: more than the 32k a class keeps in the depot before a trim may give chunks
    // back. A thread of its own, whose cached lists go to the depot when it exits.
    constexpr std::size_t n = 40'000;
    const auto [before, bytes_before] = weft::detail::mapped_task_blocks();
    weft::detail::task_block_mappings in_burst;
    bool burst_intact = false;
    std::thread([&] {
        auto v = take(n);
        burst_intact = intact(v);
        in_burst = weft::detail::mapped_task_blocks();
        give_back(v);
    }).join();
    const auto [during, bytes_during] = in_burst;
    CHECK(burst_intact);
    const std::size_t freed = weft::detail::trim_task_blocks(std::chrono::nanoseconds(0));
    const std::size_t after = weft::detail::mapped_task_blocks().chunks;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // Under the sanitizers every block is its own malloc: no chunk, nothing to trim.
    CHECK(before == 0);
    CHECK(during == 0);
    CHECK(bytes_before == 0);
    CHECK(bytes_during == 0);
    CHECK(freed == 0);
    CHECK(after == 0);
#else
    // Mappings, not a malloc per block: one per 512 blocks for a class's first 8 chunks, then
    // 2 MiB ones (blocks already in the depot served first). More blocks than the earlier
    // cases left free, so the burst mapped some, and past the first 8 its chunks are huge:
    // the new chunks average more than one batch of 128-byte blocks (64 KiB).
    CHECK(during > before);
    CHECK(during <= before + n / 512 + 1);
    CHECK(bytes_during - bytes_before > (during - before) * 512 * 128);
    // Every chunk whose blocks all came back is freed; what stays is the chunks that hold
    // blocks of this thread's own lists or of another thread's.
    CHECK(freed > 0);
    CHECK(after + freed == during);
    CHECK(after <= before + 2);
#endif
    // The lists the trim rebuilt serve blocks as before.
    auto again = take(n);
    CHECK(intact(again));
    give_back(again);
}
