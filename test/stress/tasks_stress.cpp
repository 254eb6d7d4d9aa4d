// Task-count stress: a skynet fork-join tree of a million leaves, and 100k tasks parked at once
// (past the guarded-stack budget that vm.max_map_count allows, so the slab stacks carry the
// rest), released and joined, with the RSS each parked task costs.
#include "stress/stress_support.hpp"

#include <weft/sync.hpp>
#include <weft/task.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Sums the integers in [lo, hi) by splitting the range into (up to) ten children, each a task,
// down to single numbers: the skynet benchmark's shape for any leaf count.
std::uint64_t skynet(std::uint64_t lo, std::uint64_t hi, std::atomic<std::uint64_t>& tasks) {
    tasks.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t n = hi - lo;
    if (n == 1) return lo;
    std::uint64_t parts = n < 10 ? n : 10;
    std::vector<weft::join_handle<std::uint64_t>> kids;
    kids.reserve(parts);
    for (std::uint64_t i = 0; i < parts; ++i) {
        std::uint64_t a = lo + n * i / parts;
        std::uint64_t b = lo + n * (i + 1) / parts;
        kids.push_back(weft::spawn([a, b, &tasks] { return skynet(a, b, tasks); }));
    }
    std::uint64_t sum = 0;
    for (auto& k : kids) sum += k.join();
    return sum;
}

}  // namespace

TEST_CASE("skynet: a 10-ary tree of spawned and joined tasks sums its leaves",
          "[stress][tasks][skynet]") {
    // Under TSan: at most 20k leaves (22k tasks take ~20 s there).
    const std::uint64_t leaves = weft::stress::live_size(1'000'000, 10, 20'000);
    auto rt = weft::test::make_runtime(2);
    std::atomic<std::uint64_t> tasks{0};
    auto t0 = std::chrono::steady_clock::now();
    std::uint64_t sum = rt.block_on([&] { return skynet(0, leaves, tasks); });
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(sum == leaves * (leaves - 1) / 2);
    // Every task ended: nothing but finished work is left.
    CHECK(weft::stress::wait_no_tasks(rt));
    auto m = rt.metrics();
    CHECK(m.spawned_tasks >= tasks.load());
    weft::stress::report("skynet: {} leaves, {} tasks spawned and joined on 2 workers, sum ok, "
                         "{} ms, RSS {} MiB",
                         leaves, tasks.load(),
                         std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
                         weft::stress::rss_bytes() >> 20);
}

TEST_CASE("100k tasks parked at once on one cancellation token then released and joined",
          "[stress][tasks][parked]") {
    const std::size_t n = weft::stress::live_size(100'000, 10);
    auto rt = weft::test::make_runtime(2);
    weft::cancellation_token go;
    std::atomic<std::size_t> started{0}, finished{0};
    std::vector<weft::join_handle<void>> handles;
    handles.reserve(n);
    const std::size_t rss0 = weft::stress::rss_bytes();
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) {
        handles.push_back(rt.spawn([&] {
            started.fetch_add(1, std::memory_order_relaxed);
            go.cancelled();
            finished.fetch_add(1, std::memory_order_relaxed);
        }));
    }
    // Every task runs and parks (the token is not cancelled yet, so none can finish).
    std::size_t parked = weft::stress::wait_parked(rt, "cancellation_token::cancelled", n);
    auto t_parked = std::chrono::steady_clock::now();
    const std::size_t rss_parked = weft::stress::rss_bytes();
    const std::size_t alive_parked = rt.metrics().alive_tasks;
    const std::size_t maps_parked = weft::stress::map_count();
    CHECK(parked == n);
    CHECK(started.load() == n);
    CHECK(finished.load() == 0);
    CHECK(alive_parked == n);
    CHECK(maps_parked < 65530);

    go.cancel();
    std::size_t joined = rt.block_on([&] {
        std::size_t ok = 0;
        for (auto& h : handles) {
            h.join();
            ++ok;
        }
        return ok;
    });
    auto t_done = std::chrono::steady_clock::now();
    CHECK(joined == n);
    CHECK(finished.load() == n);
    CHECK(weft::stress::wait_no_tasks(rt));
    const double per_task =
        rss_parked > rss0 ? static_cast<double>(rss_parked - rss0) / static_cast<double>(n) : 0.0;
    weft::stress::report(
        "parked: {} tasks parked at once in cancellation_token::cancelled, released and joined; "
        "spawn+park {} ms, release+join {} ms, RSS {} MiB -> {} MiB ({:.1f} KiB per parked task), "
        "{} memory mappings (vm.max_map_count untouched)",
        n, std::chrono::duration_cast<std::chrono::milliseconds>(t_parked - t0).count(),
        std::chrono::duration_cast<std::chrono::milliseconds>(t_done - t_parked).count(),
        rss0 >> 20, rss_parked >> 20, per_task / 1024.0, maps_parked);
}

TEST_CASE("100k tasks parked in notify: notify_waiters releases every one",
          "[stress][tasks][parked]") {
    const std::size_t n = weft::stress::live_size(100'000, 10);
    auto rt = weft::test::make_runtime(2);
    weft::notify bell;
    std::atomic<std::size_t> woken{0};
    std::vector<weft::join_handle<void>> handles;
    handles.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        handles.push_back(rt.spawn([&] {
            bell.notified();
            woken.fetch_add(1, std::memory_order_relaxed);
        }));
    }
    std::size_t parked = weft::stress::wait_parked(rt, "notify::notified", n);
    CHECK(parked == n);
    // notify_waiters wakes exactly the tasks waiting now (all of them) and stores nothing.
    bell.notify_waiters();
    rt.block_on([&] {
        for (auto& h : handles) h.join();
    });
    CHECK(woken.load() == n);
    CHECK(weft::stress::wait_no_tasks(rt));
    weft::stress::report("parked: {} tasks parked in notify::notified, woken by one notify_waiters",
                         n);
}
