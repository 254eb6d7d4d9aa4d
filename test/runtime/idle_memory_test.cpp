// 100k parked tasks on a default machine (vm.max_map_count 65530): past the guard-page budget
// stacks come from slabs, so nothing fails; each parked task costs a page or two.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {
long rss_bytes() {
    std::ifstream in("/proc/self/statm");
    long size = 0, resident = 0;
    in >> size >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
}
}  // namespace

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
    for (auto& h : hs) h.abort();
    std::size_t cancelled = 0;
    for (auto& h : hs) {
        try {
            h.join();
        } catch (const weft::join_error& e) {
            cancelled += e.is_cancelled();
        }
    }
    INFO("RSS per parked task: " << per_task << " bytes");
    CHECK(parked.load() == n);
    CHECK(cancelled == n);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(per_task <= 8 * 1024);
#endif
}
