// select: 2 producer tasks each send 100,000 values into their own bounded channel of capacity
// 1024 (the first 0..99,999, the second 100,000..199,999); one consumer task takes every value
// through a select over both receivers, dropping a receiver's branch (weft::when) once it
// reports closed. n = 200,000 values, one select each; the sum is checked, so a select that
// lost or duplicated a value fails the row.
#include "support/bench.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>

#include <fmt/format.h>

#include <utility>

namespace weft_bench {
namespace {

void select(weft::runtime& rt) {
    constexpr u64 per = 100'000;
    auto [ns, sum] = rt.block_on([] {
        auto t0 = bench_clock::now();
        auto [tx1, rx1] = weft::mpsc::channel<u64>(1024);
        auto [tx2, rx2] = weft::mpsc::channel<u64>(1024);
        weft::spawn([tx = std::move(tx1)] {
            for (u64 i = 0; i < per; ++i) tx.send(i);
        });
        weft::spawn([tx = std::move(tx2)] {
            for (u64 i = 0; i < per; ++i) tx.send(per + i);
        });
        auto consumer = weft::spawn([rx1 = std::move(rx1), rx2 = std::move(rx2)]() mutable {
            u64 s = 0;
            bool open1 = true, open2 = true;
            while (open1 || open2) {
                auto r = weft::select(weft::when(open1, [&] { return rx1.recv(); }),
                                      weft::when(open2, [&] { return rx2.recv(); }));
                if (r.index() == 0) {
                    if (auto v = std::get<0>(r)) s += *v; else open1 = false;
                } else {
                    if (auto v = std::get<1>(r)) s += *v; else open2 = false;
                }
            }
            return s;
        });
        u64 s = consumer.join();
        return std::pair<u64, u64>{ns_since(t0), s};
    });
    check(sum == (2 * per) * (2 * per - 1) / 2, "select sum");
    emit("select", 2 * per, ns, fmt::format("\"channels\":2,\"capacity\":1024,\"sum\":{}", sum));
}

const registrar reg{"select", &select};

}  // namespace
}  // namespace weft_bench
