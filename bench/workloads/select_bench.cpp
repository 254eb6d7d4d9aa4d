// select: one producer task sends 1,000,000 values (0..999,999) into a bounded channel of
// capacity 1024; one consumer task takes every value through a loop of
// select(rx.recv(), ticker.tick()) with a 1 ms interval, the shape of a service's event loop.
// n = 1,000,000 values (ns per value; the ticks that won are in extra). The sum is checked,
// so a select that lost or duplicated a value fails the row.
// select_ops: the same loop with weft's select over operations,
// select(rx.recv_op(), ticker.tick_op()), which starts no fiber (the peers' select row is its
// comparison).
#include "support/bench.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <fmt/format.h>

#include <chrono>
#include <tuple>
#include <utility>

namespace weft_bench {
namespace {

template <bool Ops>
void select_loop(weft::runtime& rt, const char* row) {
    constexpr u64 n = 1'000'000;
    auto [ns, sum, ticks] = rt.block_on([] {
        auto t0 = bench_clock::now();
        auto [tx, rx] = weft::mpsc::channel<u64>(1024);
        weft::spawn([tx = std::move(tx)] {
            for (u64 i = 0; i < n; ++i) tx.send(i);
        });
        auto consumer = weft::spawn([rx = std::move(rx)]() mutable {
            u64 s = 0, ticks = 0;
            weft::interval ticker(std::chrono::milliseconds(1));
            for (;;) {
                auto r = [&] {
                    if constexpr (Ops) {
                        return weft::select(rx.recv_op(), ticker.tick_op());
                    } else {
                        return weft::select([&] { return rx.recv(); },
                                            [&] { return ticker.tick(); });
                    }
                }();
                if (r.index() == 1) {
                    ++ticks;
                    continue;
                }
                auto v = std::get<0>(r);
                if (!v) break;
                s += *v;
            }
            return std::pair<u64, u64>{s, ticks};
        });
        auto [s, ticks] = consumer.join();
        return std::tuple<u64, u64, u64>{ns_since(t0), s, ticks};
    });
    check(sum == n * (n - 1) / 2, "select sum");
    emit(row, n, ns,
         fmt::format("\"capacity\":1024,\"interval_ms\":1,\"ticks\":{},\"sum\":{}", ticks, sum));
}

void select(weft::runtime& rt) { select_loop<false>(rt, "select"); }
void select_ops(weft::runtime& rt) { select_loop<true>(rt, "select_ops"); }

const registrar reg{"select", &select};
const registrar reg_ops{"select_ops", &select_ops};

}  // namespace
}  // namespace weft_bench
