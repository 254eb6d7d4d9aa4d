// chained_spawn: a chain of 100,000 tasks, each spawning the next; the last signals the driver
// through a oneshot channel whose sender travels down the chain (as in Tokio's peer).
#include "support/bench.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>

#include <utility>

namespace weft_bench {
namespace {

void chain(u64 n, weft::oneshot::sender<bool> done) {
    if (n == 0) {
        done.send(true);
        return;
    }
    weft::spawn([n, done = std::move(done)]() mutable { chain(n - 1, std::move(done)); });
}

void chained_spawn(weft::runtime& rt) {
    constexpr u64 n = 100'000;
    u64 ns = rt.block_on([] {
        auto [tx, rx] = weft::oneshot::channel<bool>();
        auto t0 = bench_clock::now();
        chain(n, std::move(tx));
        bool ok = rx.recv();
        u64 elapsed = ns_since(t0);
        check(ok, "chained_spawn signal");
        return elapsed;
    });
    emit("chained_spawn", n, ns, "");
}

const registrar reg{"chained_spawn", &chained_spawn};

}  // namespace
}  // namespace weft_bench
