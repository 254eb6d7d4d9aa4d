// skynet: every task spawns 10 children, 6 levels deep, down to 1,000,000 leaves; each leaf
// returns its number and the sums go up by joining the children (1,111,111 tasks in all).
#include "support/bench.hpp"

#include <weft/task.hpp>

#include <fmt/format.h>

namespace weft_bench {
namespace {

u64 skynet_node(u64 num, u64 size) {
    if (size == 1) return num;
    const u64 sub = size / 10;
    weft::join_handle<u64> hs[10];
    for (u64 i = 0; i < 10; ++i) {
        hs[i] = weft::spawn([num, sub, i] { return skynet_node(num + i * sub, sub); });
    }
    u64 sum = 0;
    for (auto& h : hs) sum += h.join();
    return sum;
}

void skynet(weft::runtime& rt) {
    constexpr u64 tasks = 1'111'111;  // 1 + 10 + ... + 1,000,000
    auto [ns, sum] = rt.block_on([] {
        auto t0 = bench_clock::now();
        u64 s = weft::spawn([] { return skynet_node(0, 1'000'000); }).join();
        return std::pair<u64, u64>{ns_since(t0), s};
    });
    check(sum == 499'999'500'000ULL, "skynet sum");
    emit("skynet", tasks, ns, fmt::format("\"leaves\":1000000,\"sum\":{}", sum));
}

const registrar reg{"skynet", &skynet};

}  // namespace
}  // namespace weft_bench
