// yield_many: 200 tasks each call yield_now 1,000 times (200,000 yields), then all are joined.
#include "support/bench.hpp"

#include <weft/task.hpp>

#include <vector>

namespace weft_bench {
namespace {

void yield_many(weft::runtime& rt) {
    constexpr u64 tasks = 200;
    constexpr u64 yields = 1'000;
    u64 done = 0;
    u64 ns = rt.block_on([&done] {
        auto t0 = bench_clock::now();
        std::vector<weft::join_handle<u64>> hs;
        hs.reserve(tasks);
        for (u64 i = 0; i < tasks; ++i) {
            hs.push_back(weft::spawn([] {
                u64 k = 0;
                for (; k < yields; ++k) weft::yield_now();
                return k;
            }));
        }
        for (auto& h : hs) done += h.join();
        return ns_since(t0);
    });
    check(done == tasks * yields, "yield_many count");
    emit("yield_many", tasks * yields, ns, "\"tasks\":200,\"yields_per_task\":1000");
}

const registrar reg{"yield_many", &yield_many};

}  // namespace
}  // namespace weft_bench
