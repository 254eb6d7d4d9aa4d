// mpsc: 4 producer tasks each send 250,000 values (p*250000+i) into one bounded channel of
// capacity 1024; one consumer task sums them until the channel closes. The sum is checked.
#include "support/bench.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>

#include <fmt/format.h>

#include <utility>

namespace weft_bench {
namespace {

void mpsc(weft::runtime& rt) {
    constexpr u64 producers = 4;
    constexpr u64 per = 250'000;
    auto [ns, sum] = rt.block_on([] {
        auto t0 = bench_clock::now();
        auto [tx, rx] = weft::mpsc::channel<u64>(1024);
        for (u64 p = 0; p < producers; ++p) {
            weft::spawn([tx, p]() mutable {
                for (u64 i = 0; i < per; ++i) tx.send(p * per + i);
            });
        }
        { auto drop = std::move(tx); }  // the producers now hold the only senders
        auto consumer = weft::spawn([rx = std::move(rx)]() mutable {
            u64 s = 0;
            while (auto v = rx.recv()) s += *v;
            return s;
        });
        u64 s = consumer.join();
        return std::pair<u64, u64>{ns_since(t0), s};
    });
    check(sum == 499'999'500'000ULL, "mpsc sum");
    emit("mpsc", producers * per, ns,
         fmt::format("\"producers\":4,\"capacity\":1024,\"sum\":{}", sum));
}

const registrar reg{"mpsc", &mpsc};

}  // namespace
}  // namespace weft_bench
