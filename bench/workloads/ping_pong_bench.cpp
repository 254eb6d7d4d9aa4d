// ping_pong / ping_pong_100: pairs of tasks make round trips through two bounded mpsc channels
// of capacity 1 (1 pair x 100,000 rounds; 100 pairs x 1,000 rounds). The pong side echoes
// until the ping side drops its sender; every echoed value is checked.
#include "support/bench.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>

#include <utility>
#include <vector>

namespace weft_bench {
namespace {

u64 ping_pong_pairs(u64 pairs, u64 rounds) {
    auto t0 = bench_clock::now();
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(2 * pairs);
    for (u64 p = 0; p < pairs; ++p) {
        auto [tx1, rx1] = weft::mpsc::channel<u64>(1);
        auto [tx2, rx2] = weft::mpsc::channel<u64>(1);
        hs.push_back(weft::spawn([rx = std::move(rx1), tx = std::move(tx2)]() mutable {
            // pong: echo until the ping side closes
            while (auto v = rx.recv()) tx.send(*v);
        }));
        hs.push_back(weft::spawn([tx_in = std::move(tx1), rx = std::move(rx2), rounds]() mutable {
            auto tx = std::move(tx_in);  // dropped when this body ends: that closes pong's channel
            for (u64 i = 0; i < rounds; ++i) {
                tx.send(i);
                auto v = rx.recv();
                check(v.has_value() && *v == i, "ping_pong value");
            }
        }));
    }
    for (auto& h : hs) h.join();
    return ns_since(t0);
}

void ping_pong(weft::runtime& rt) {
    u64 ns = rt.block_on([] { return ping_pong_pairs(1, 100'000); });
    emit("ping_pong", 100'000, ns, "\"pairs\":1,\"rounds_per_pair\":100000,\"capacity\":1");
}

void ping_pong_100(weft::runtime& rt) {
    u64 ns = rt.block_on([] { return ping_pong_pairs(100, 1'000); });
    emit("ping_pong_100", 100'000, ns, "\"pairs\":100,\"rounds_per_pair\":1000,\"capacity\":1");
}

const registrar reg{"ping_pong", &ping_pong};
const registrar reg_100{"ping_pong_100", &ping_pong_100};

}  // namespace
}  // namespace weft_bench
