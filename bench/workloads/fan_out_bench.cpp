// fan_out: one producer task hands 40,000 jobs (the values 0..39,999) round robin to 8
// consumer tasks, one bounded channel of capacity 1 each; every consumer takes its 5,000 jobs
// and does each one: 2,000 rounds of a 64-bit xor-shift-multiply mix (splitmix64's finaliser
// step, which no compiler folds into fewer rounds) seeded with the value, about 3 us of CPU on
// the development VM, folded into a digest. The shape of a worker pool fed over channels: the
// jobs gain from both workers, and every send wakes a consumer that may last have run on the
// other worker. n = 40,000 jobs (ns per job). The values' sum is checked, and the digest (the
// same in every peer) goes to extra.
#include "support/bench.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>

#include <fmt/format.h>

#include <tuple>
#include <utility>
#include <vector>

namespace weft_bench {
namespace {

constexpr u64 jobs = 40'000;
constexpr u64 consumers = 8;
constexpr u64 rounds = 2'000;

u64 job(u64 v) {
    u64 x = v + 0x9e3779b97f4a7c15ULL;
    for (u64 i = 0; i < rounds; ++i) x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ULL;
    return x;
}

void fan_out(weft::runtime& rt) {
    auto [ns, sum, digest] = rt.block_on([] {
        auto t0 = bench_clock::now();
        std::vector<weft::mpsc::sender<u64>> txs;
        std::vector<weft::join_handle<std::pair<u64, u64>>> hs;
        for (u64 c = 0; c < consumers; ++c) {
            auto [tx, rx] = weft::mpsc::channel<u64>(1);
            txs.push_back(std::move(tx));
            hs.push_back(weft::spawn([rx = std::move(rx)]() mutable {
                u64 s = 0;
                u64 d = 0;
                for (u64 i = 0; i < jobs / consumers; ++i) {
                    const u64 v = *rx.recv();
                    s += v;
                    d ^= job(v);
                }
                return std::pair<u64, u64>{s, d};
            }));
        }
        weft::spawn([txs = std::move(txs)] {
            for (u64 i = 0; i < jobs; ++i) txs[i % consumers].send(i);
        });
        u64 s = 0;
        u64 d = 0;
        for (auto& h : hs) {
            auto [cs, cd] = h.join();
            s += cs;
            d ^= cd;
        }
        return std::tuple<u64, u64, u64>{ns_since(t0), s, d};
    });
    check(sum == jobs * (jobs - 1) / 2, "fan_out sum");
    emit("fan_out", jobs, ns,
         fmt::format("\"consumers\":8,\"capacity\":1,\"rounds\":2000,\"digest\":{}", digest));
}

const registrar reg{"fan_out", &fan_out};

}  // namespace
}  // namespace weft_bench
