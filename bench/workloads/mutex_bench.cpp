// mutex: 100 tasks each do 10,000 rounds of lock / increment / unlock on weft::mutex; the
// plain counter it protects is checked (1,000,000), read under the lock.
#include "support/bench.hpp"

#include <weft/sync.hpp>
#include <weft/task.hpp>

#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <vector>

namespace weft_bench {
namespace {

struct guarded_count {
    weft::mutex m;
    u64 count = 0;  // plain: protected only by m
};

void mutex_bench(weft::runtime& rt) {
    constexpr u64 tasks = 100;
    constexpr u64 iters = 10'000;
    auto [ns, total] = rt.block_on([] {
        auto g = std::make_shared<guarded_count>();
        auto t0 = bench_clock::now();
        std::vector<weft::join_handle<void>> hs;
        hs.reserve(tasks);
        for (u64 t = 0; t < tasks; ++t) {
            hs.push_back(weft::spawn([g] {
                for (u64 i = 0; i < iters; ++i) {
                    std::lock_guard lock(g->m);
                    ++g->count;
                }
            }));
        }
        for (auto& h : hs) h.join();
        u64 elapsed = ns_since(t0);
        std::lock_guard lock(g->m);
        return std::pair<u64, u64>{elapsed, g->count};
    });
    check(total == tasks * iters, "mutex count");
    emit("mutex", tasks * iters, ns,
         fmt::format("\"tasks\":100,\"final\":{},\"primitive\":\"weft::mutex\"", total));
}

const registrar reg{"mutex", &mutex_bench};

}  // namespace
}  // namespace weft_bench
