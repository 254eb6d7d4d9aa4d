// spawn_many: from a task on a worker, spawn N tasks; each increments a counter and the one
// that brings it to N signals the driver through a weft::notify (Tokio's peer: Notify).
// Peer row: N = 200,000; scaling rows 10k/100k/1M.
#include "support/bench.hpp"

#include <weft/sync.hpp>
#include <weft/task.hpp>

#include <atomic>
#include <memory>

namespace weft_bench {
namespace {

// Shared by every task (as the peer clones its Arcs): the last task may still be inside
// notify_one() when the driver returns.
struct shared_state {
    std::atomic<u64> counter{0};
    weft::notify done;
};

void spawn_many_n(weft::runtime& rt, const char* row, u64 n) {
    u64 ns = rt.block_on([n] {
        auto st = std::make_shared<shared_state>();
        auto t0 = bench_clock::now();
        for (u64 i = 0; i < n; ++i) {
            weft::spawn([st, n] {
                if (st->counter.fetch_add(1, std::memory_order_acq_rel) + 1 == n)
                    st->done.notify_one();
            });
        }
        st->done.notified();  // notify_one stores a permit if it came first
        u64 elapsed = ns_since(t0);
        check(st->counter.load(std::memory_order_acquire) == n, "spawn_many count");
        return elapsed;
    });
    emit(row, n, ns, "");
}

void spawn_many(weft::runtime& rt) { spawn_many_n(rt, "spawn_many", 200'000); }
void spawn_many_10k(weft::runtime& rt) { spawn_many_n(rt, "spawn_many_10k", 10'000); }
void spawn_many_100k(weft::runtime& rt) { spawn_many_n(rt, "spawn_many_100k", 100'000); }
void spawn_many_1m(weft::runtime& rt) { spawn_many_n(rt, "spawn_many_1m", 1'000'000); }

const registrar reg{"spawn_many", &spawn_many};
const registrar reg_10k{"spawn_many_10k", &spawn_many_10k};
const registrar reg_100k{"spawn_many_100k", &spawn_many_100k};
const registrar reg_1m{"spawn_many_1m", &spawn_many_1m};

}  // namespace
}  // namespace weft_bench
