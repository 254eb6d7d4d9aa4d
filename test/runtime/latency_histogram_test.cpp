// The workers' latency histograms (builder::latency_histograms): the fixed buckets, what a
// resumption records, and that a runtime without them records nothing.
#include "support/harness.hpp"

#include <weft/metrics.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

using namespace std::chrono_literals;

namespace {

// Both histograms summed over the workers.
struct totals {
    weft::latency_histogram schedule_latency, run_time;
};

void add(weft::latency_histogram& into, const weft::latency_histogram& h) {
    for (std::size_t i = 0; i < weft::latency_histogram::buckets; ++i)
        into.counts[i] += h.counts[i];
    into.count += h.count;
    into.sum += h.sum;
}

totals sum_over_workers(const weft::runtime_metrics& m) {
    totals t;
    for (const auto& w : m.per_worker) {
        add(t.schedule_latency, w.schedule_latency);
        add(t.run_time, w.run_time);
    }
    return t;
}

// Every resumption records one schedule latency when it starts and one run time when it ends,
// so once nothing runs the two counts agree. A task's last run time is recorded after its
// joiner was woken, so this waits (bounded) for the workers to get there.
totals settled(const weft::runtime& rt) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    totals t = sum_over_workers(rt.metrics());
    while (t.schedule_latency.count != t.run_time.count &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
        t = sum_over_workers(rt.metrics());
    }
    return t;
}

}  // namespace

TEST_CASE("latency_histogram buckets are powers of two from 256 ns to 2^30 ns",
          "[runtime][metrics][histogram]") {
    using h = weft::latency_histogram;
    STATIC_REQUIRE(h::buckets == 24);
    CHECK(h::upper_bound(0) == 256ns);
    CHECK(h::upper_bound(1) == 512ns);
    CHECK(h::upper_bound(22) == std::chrono::nanoseconds(1 << 30));
    CHECK(h::upper_bound(23) == std::chrono::nanoseconds::max());
    CHECK(h::bucket_of(0) == 0);
    CHECK(h::bucket_of(256) == 0);
    CHECK(h::bucket_of(257) == 1);
    CHECK(h::bucket_of(512) == 1);
    CHECK(h::bucket_of(513) == 2);
    CHECK(h::bucket_of(std::uint64_t{1} << 30) == 22);
    CHECK(h::bucket_of((std::uint64_t{1} << 30) + 1) == 23);
    CHECK(h::bucket_of(~std::uint64_t{0}) == 23);
    // Every bound falls in its own bucket, and one more nanosecond in the next.
    for (std::size_t i = 0; i + 1 < h::buckets; ++i) {
        CAPTURE(i);
        auto b = static_cast<std::uint64_t>(h::upper_bound(i).count());
        CHECK(h::bucket_of(b) == i);
        CHECK(h::bucket_of(b + 1) == i + 1);
    }
}

TEST_CASE("latency_histogram::quantile_bound reads the bucket holding the quantile",
          "[runtime][metrics][histogram]") {
    weft::latency_histogram h;
    CHECK(h.quantile_bound(0.5) == 0ns);  // empty
    h.counts[0] = 90;                     // <= 256 ns
    h.counts[10] = 9;                     // <= 262 us
    h.counts[23] = 1;                     // > 1 s
    h.count = 100;
    CHECK(h.quantile_bound(0) == 256ns);
    CHECK(h.quantile_bound(0.5) == 256ns);
    CHECK(h.quantile_bound(0.9) == 256ns);
    CHECK(h.quantile_bound(0.91) == h.upper_bound(10));
    CHECK(h.quantile_bound(0.99) == h.upper_bound(10));
    CHECK(h.quantile_bound(1) == std::chrono::nanoseconds::max());
    CHECK(h.quantile_bound(7) == std::chrono::nanoseconds::max());  // clamped to 1
    CHECK(h.quantile_bound(-1) == 256ns);                           // clamped to 0
}

TEST_CASE("a runtime without latency histograms records none", "[runtime][metrics][histogram]") {
    auto rt = weft::builder::multi_thread().worker_threads(2).build();
    rt.block_on([] {
        for (int i = 0; i < 100; ++i) weft::yield_now();
        weft::spawn([] { weft::sleep_for(1ms); }).join();
    });
    const weft::runtime_metrics m = rt.metrics();
    CHECK_FALSE(m.latency_histograms);
    std::uint64_t polls = 0;
    for (const auto& w : m.per_worker) {
        polls += w.polls;
        CHECK(w.schedule_latency.count == 0);
        CHECK(w.run_time.count == 0);
        CHECK(w.run_time.sum == 0ns);
    }
    CHECK(polls >= 100);
}

TEST_CASE("every resumption records its schedule latency and its run time",
          "[runtime][metrics][histogram]") {
    auto rt = weft::builder::multi_thread().worker_threads(2).latency_histograms(true).build();
    const totals before = settled(rt);
    rt.block_on([] {
        for (int i = 0; i < 1000; ++i) weft::yield_now();
    });
    const weft::runtime_metrics m = rt.metrics();
    CHECK(m.latency_histograms);
    const totals after = settled(rt);
    // 1,000 yields: at least 1,001 resumptions of the block_on task, each recorded once in
    // each histogram.
    CHECK(after.run_time.count - before.run_time.count >= 1001);
    CHECK(after.schedule_latency.count == after.run_time.count);
    for (const auto& w : rt.metrics().per_worker) {
        std::uint64_t sum = 0;
        for (auto c : w.run_time.counts) sum += c;
        CHECK(sum == w.run_time.count);
    }
    // A yield that finds nothing else to run is back within microseconds, not a bucket of
    // a second; a loose bound, so a loaded machine does not fail it.
    CHECK(after.schedule_latency.quantile_bound(0.5) <= 1ms);
}

TEST_CASE("a task that holds its worker shows in run time, and the task behind it in schedule "
          "latency",
          "[runtime][metrics][histogram]") {
    // One worker: the second task cannot run until the first gives the worker back.
    auto rt = weft::builder::multi_thread()
                  .worker_threads(1)
                  .latency_histograms(true)
                  .blocking_warning_threshold(0ns)
                  .build();
    const totals before = settled(rt);
    std::atomic<bool> behind_ran{false};
    // From outside the runtime both go to the global queue, in order: `behind` waits for the
    // whole of the hog's run (less the moment between the two spawns).
    auto hog = rt.spawn([] { weft::test::spin_for(40ms); });
    auto behind = rt.spawn([&] { behind_ran = true; });
    rt.block_on([&] {
        hog.join();
        behind.join();
    });
    REQUIRE(behind_ran);
    const totals after = settled(rt);
    // 40 ms lies in the bucket (2^25 ns = 33.6 ms, 2^26 ns = 67.1 ms]; a slow machine may
    // stretch it into a later one, never an earlier one. `behind` waited at least the hog's
    // 40 ms less the moment between the spawns, so the same bucket.
    auto longest = [](const weft::latency_histogram& a, const weft::latency_histogram& b) {
        for (std::size_t i = weft::latency_histogram::buckets; i-- > 0;) {
            if (a.counts[i] != b.counts[i]) return weft::latency_histogram::upper_bound(i);
        }
        return 0ns;
    };
    CHECK(longest(after.run_time, before.run_time) >= 40ms);
    CHECK(longest(after.schedule_latency, before.schedule_latency) >= 40ms);
    CHECK(after.run_time.sum - before.run_time.sum >= 40ms);
}

TEST_CASE("latency histograms use the real clock when the runtime's clock is paused",
          "[runtime][metrics][histogram]") {
    // An hour of virtual sleep passes at once; the sleeper's wake-to-run time is the real
    // one, microseconds, not the hour the paused clock jumped.
    auto rt = weft::builder::current_thread().start_paused(true).latency_histograms(true).build();
    rt.block_on([] {
        weft::spawn([] { weft::sleep_for(1h); }).join();
        weft::sleep_for(1h);
    });
    const totals t = settled(rt);
    CHECK(t.schedule_latency.count >= 3);
    CHECK(t.schedule_latency.quantile_bound(1.0) <= std::chrono::nanoseconds(1 << 30));
    CHECK(t.run_time.quantile_bound(1.0) <= std::chrono::nanoseconds(1 << 30));
}
