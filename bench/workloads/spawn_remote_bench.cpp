// spawn_remote: from the main thread (not a worker: no block_on is running), spawn 100,000
// tasks with runtime::spawn, then block on a std::condition_variable until the last one ran.
#include "support/bench.hpp"

#include <weft/runtime.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace weft_bench {
namespace {

struct remote_done {
    std::atomic<u64> count{0};
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
};

void spawn_remote(weft::runtime& rt) {
    constexpr u64 n = 100'000;
    auto d = std::make_shared<remote_done>();
    auto t0 = bench_clock::now();
    for (u64 i = 0; i < n; ++i) {
        rt.spawn([d] {
            if (d->count.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
                {
                    std::lock_guard lock(d->m);
                    d->done = true;
                }
                d->cv.notify_one();
            }
        });
    }
    {
        std::unique_lock lock(d->m);
        d->cv.wait(lock, [&] { return d->done; });
    }
    u64 ns = ns_since(t0);
    check(d->count.load(std::memory_order_acquire) == n, "spawn_remote count");
    emit("spawn_remote", n, ns, "");
}

const registrar reg{"spawn_remote", &spawn_remote};

}  // namespace
}  // namespace weft_bench
