// idle_memory: N tasks all park on one weft::notify. The driver polls every 200 us until all
// have parked, sleeps 50 ms more to settle, and reads RSS before the spawn and after the
// settle: rss_per_task_bytes = delta / N. Then every task is released and joined.
// Peer row: N = 100,000 (run it first in a process: allocator caches of earlier rows would
// hide its growth); scaling rows 10k / 100k.
#include "support/bench.hpp"

#include <weft/sync.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

namespace weft_bench {
namespace {

struct gate {
    weft::notify notify;
    std::atomic<bool> released{false};
    std::atomic<u64> parked{0};
};

void idle_memory_n(weft::runtime& rt, const char* row, u64 n) {
    struct result {
        u64 park_ns, release_ns, rss0, rss1;
    };
    result r = rt.block_on([n] {
        auto g = std::make_shared<gate>();
        std::vector<weft::join_handle<void>> hs;
        hs.reserve(n);  // allocated before the first RSS sample
        u64 rss0 = rss_bytes();
        auto t0 = bench_clock::now();
        for (u64 i = 0; i < n; ++i) {
            hs.push_back(weft::spawn([g] {
                bool counted = false;
                for (;;) {
                    // enroll before the check: a notify_waiters after it is not lost
                    auto w = g->notify.enroll();
                    if (g->released.load(std::memory_order_acquire)) break;
                    if (!counted) {
                        g->parked.fetch_add(1, std::memory_order_acq_rel);
                        counted = true;
                    }
                    w.wait();
                }
            }));
        }
        while (g->parked.load(std::memory_order_acquire) < n) {
            weft::sleep_for(std::chrono::microseconds(200));
        }
        u64 park_ns = ns_since(t0);
        weft::sleep_for(std::chrono::milliseconds(50));  // let the last ones register
        u64 rss1 = rss_bytes();
        auto t1 = bench_clock::now();
        g->released.store(true, std::memory_order_release);
        g->notify.notify_waiters();
        for (auto& h : hs) h.join();
        return result{park_ns, ns_since(t1), rss0, rss1};
    });
    double per =
        (static_cast<double>(r.rss1) - static_cast<double>(r.rss0)) / static_cast<double>(n);
    emit(row, n, r.park_ns + r.release_ns,
         fmt::format("\"rss_per_task_bytes\":{:.1f},\"rss_before\":{},\"rss_after\":{},"
                     "\"park_ns\":{},\"release_ns\":{},\"primitive\":\"weft::notify\"",
                     per, r.rss0, r.rss1, r.park_ns, r.release_ns));
}

void idle_memory(weft::runtime& rt) { idle_memory_n(rt, "idle_memory", 100'000); }
void idle_memory_10k(weft::runtime& rt) { idle_memory_n(rt, "idle_memory_10k", 10'000); }
void idle_memory_100k(weft::runtime& rt) { idle_memory_n(rt, "idle_memory_100k", 100'000); }

const registrar reg{"idle_memory", &idle_memory};
const registrar reg_10k{"idle_memory_10k", &idle_memory_10k};
const registrar reg_100k{"idle_memory_100k", &idle_memory_100k};

}  // namespace
}  // namespace weft_bench
