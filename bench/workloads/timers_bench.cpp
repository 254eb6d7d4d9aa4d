// timers: 100,000 tasks each sleep 10 ms, all at once; overshoot = actual sleep - 10 ms,
// measured from the moment each task called sleep_for. Also verifies that no sleep returned
// early (the peers do not check this; weft promises "at least d").
#include "support/bench.hpp"

#include <weft/task.hpp>
#include <weft/time.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace weft_bench {
namespace {

constexpr std::int64_t early = -1;  // a task's result when its sleep returned early
constexpr u64 n = 100'000;
constexpr auto sleep = std::chrono::milliseconds(10);

void timers(weft::runtime& rt) {
    struct result {
        u64 ns, total_over, max_over, early;
    };
    result r = rt.block_on([] {
        auto t0 = bench_clock::now();
        std::vector<weft::join_handle<std::int64_t>> hs;
        hs.reserve(n);
        for (u64 i = 0; i < n; ++i) {
            hs.push_back(weft::spawn([] {
                auto s = bench_clock::now();
                weft::sleep_for(sleep);
                auto o = std::chrono::duration_cast<std::chrono::nanoseconds>(bench_clock::now() -
                                                                              s - sleep)
                             .count();
                return o < 0 ? early : static_cast<std::int64_t>(o);
            }));
        }
        result acc{0, 0, 0, 0};
        for (auto& h : hs) {
            std::int64_t o = h.join();
            if (o == early) {
                ++acc.early;
                continue;
            }
            acc.total_over += static_cast<u64>(o);
            acc.max_over = std::max(acc.max_over, static_cast<u64>(o));
        }
        acc.ns = ns_since(t0);
        return acc;
    });
    check(r.early == 0, fmt::format("timers: {} sleeps of 10 ms returned early", r.early));
    emit("timers", n, r.ns,
         fmt::format("\"sleep_ms\":10,\"wall_ms\":{:.2f},\"mean_overshoot_ns\":{},"
                     "\"max_overshoot_ns\":{}",
                     static_cast<double>(r.ns) / 1e6, r.total_over / n, r.max_over));
}

const registrar reg{"timers", &timers};

}  // namespace
}  // namespace weft_bench
