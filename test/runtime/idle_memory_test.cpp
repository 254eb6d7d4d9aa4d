// 100k parked tasks on a default machine (vm.max_map_count 65530): nothing fails, and each
// parked task costs a page or two. Where the kernel installs guard regions (Linux 6.13) every
// stack is guarded and the stacks take a mapping per 64; elsewhere, past the guard-page budget,
// stacks come from slabs without guard pages.
#include "support/harness.hpp"

#include <weft/sync.hpp>

#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

namespace {
long rss_bytes() {
    std::ifstream in("/proc/self/statm");
    long size = 0, resident = 0;
    in >> size >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
}

// One-page mappings that no access is allowed to (perms "---p"): a stack's own guard page is
// one. The sanitizers' per-fiber reservations are inaccessible too, but megabytes long.
std::size_t guard_page_mapping_count() {
    const auto page = static_cast<unsigned long>(::sysconf(_SC_PAGESIZE));
    std::ifstream in("/proc/self/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) {
        unsigned long lo = 0, hi = 0;
        char perms[5] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) != 3) continue;
        n += hi - lo == page && std::string_view(perms) == "---p";
    }
    return n;
}

// Whether this kernel takes MADV_GUARD_INSTALL (102; Linux 6.13), asked the way the stack
// cache asks it.
bool kernel_installs_guard_regions() {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    void* p = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    const bool ok = ::madvise(p, page, 102) == 0;
    ::munmap(p, 2 * page);
    return ok;
}
// Aborts every task and joins it; returns how many ended cancelled.
std::size_t abort_all(std::vector<weft::join_handle<void>>& hs) {
    for (auto& h : hs) h.abort();
    std::size_t cancelled = 0;
    for (auto& h : hs) {
        try {
            h.join();
        } catch (const weft::join_error& e) {
            cancelled += e.is_cancelled();
        }
    }
    return cancelled;
}
}  // namespace

TEST_CASE("parked tasks' stacks need no mapping of their own where guard regions exist",
          "[runtime][memory]") {
    // A guarded stack of its own mapping costs two entries of vm.max_map_count (the stack and
    // its PROT_NONE guard page), which capped guarded stacks near 28k; a guard region inside a
    // shared slab costs none.
    const std::size_t n = 2'000;
    auto rt = weft::test::make_runtime(2);
    std::atomic<std::size_t> parked{0};
    weft::notify release;  // never notified: the tasks are aborted
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    const std::size_t maps_before = guard_page_mapping_count();
    const std::size_t maps_parked = rt.block_on([&] {
        for (std::size_t i = 0; i < n; ++i) {
            hs.push_back(weft::spawn([&] {
                parked.fetch_add(1);
                release.notified();
            }));
        }
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (parked.load() < n && std::chrono::steady_clock::now() < deadline) {
            weft::sleep_for(1ms);
        }
        return guard_page_mapping_count();
    });
    const std::size_t cancelled = abort_all(hs);
    REQUIRE(parked.load() == n);
    CHECK(cancelled == n);
    const std::size_t added = maps_parked > maps_before ? maps_parked - maps_before : 0;
    INFO(n << " parked tasks added " << added << " one-page guard mappings");
    if (kernel_installs_guard_regions()) {
        CHECK(added <= 16);
    } else {
        // The older kinds: a mapping and a guard page each (the budget is far above n).
        WARN("this kernel refuses MADV_GUARD_INSTALL: stacks are mapped one by one");
        CHECK(added >= n);
    }
}

TEST_CASE("100k tasks parked at once, a few KiB each", "[runtime][memory]") {
#if defined(__SANITIZE_THREAD__)
    // TSan keeps a shadow thread state per fiber and runs out of mappings near 10k of them.
    const std::size_t n = std::min<std::size_t>(weft::test::scaled(100'000), 2'000);
#else
    const std::size_t n = weft::test::scaled(100'000);
#endif
    auto rt = weft::test::make_runtime(2);
    std::atomic<std::size_t> parked{0};
    std::atomic<bool> release{false};
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    long before = rss_bytes();
    rt.block_on([&] {
        for (std::size_t i = 0; i < n; ++i) {
            hs.push_back(weft::spawn([&] {
                parked.fetch_add(1);
                while (!release.load()) weft::sleep_for(1h);
            }));
        }
        while (parked.load() < n) weft::sleep_for(1ms);
    });
    long per_task = (rss_bytes() - before) / static_cast<long>(n);
    release = true;
    const std::size_t cancelled = abort_all(hs);
    INFO("RSS per parked task: " << per_task << " bytes");
    CHECK(parked.load() == n);
    CHECK(cancelled == n);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(per_task <= 8 * 1024);
#endif
}

TEST_CASE("stacks of a size no cache keeps give their pages back when their tasks end",
          "[runtime][memory]") {
    // Only the default size is cached; another goes back to the system when its task ends (an
    // own mapping is unmapped; a slab's stack, guarded or not, is given back with
    // MADV_DONTNEED and keeps its range). 200 tasks each touch 128 KiB of their stacks and wait;
    // when they have ended, the 25 MiB they touched must be gone from the resident set.
    constexpr std::size_t tasks = 200;
    constexpr std::size_t touched = 128 * 1024;
    auto rt = weft::test::make_runtime(2);
    std::atomic<std::size_t> ready{0};
    std::atomic<bool> go{false};
    const long before = rss_bytes();
    long peak = 0;
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (std::size_t i = 0; i < tasks; ++i) {
            hs.push_back(weft::task_builder().stack_size(192 * 1024).spawn([&] {
                volatile char frame[touched];
                for (std::size_t b = 0; b < touched; b += 4096) frame[b] = 1;
                ready.fetch_add(1);
                while (!go.load()) weft::sleep_for(1ms);
                (void)frame[0];
            }));
        }
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (ready.load() < tasks && std::chrono::steady_clock::now() < deadline) {
            weft::sleep_for(1ms);
        }
        peak = rss_bytes();
        go = true;
        for (auto& h : hs) h.join();
    });
    const long after = rss_bytes();
    INFO("RSS before " << before << ", with the tasks " << peak << ", after " << after);
    REQUIRE(ready.load() == tasks);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // The sanitizers' shadow memory and fake stacks move the resident set on their own.
    CHECK(peak - before >= static_cast<long>(tasks * touched) * 9 / 10);
    CHECK(peak - after >= static_cast<long>(tasks * touched) * 8 / 10);
#endif
}
