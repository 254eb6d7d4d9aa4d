// idle (lib/scheduler/idle.hpp) tested directly: the searching throttle, last-searcher
// detection, who gets notified, and a small scheduler built on it (threads that search, park
// on a semaphore and are woken through worker_to_notify) that must never leave work queued
// while every worker sleeps.
#include "scheduler/idle.hpp"

#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

using weft::detail::idle;

TEST_CASE("idle: at most half the workers search; the last searcher is reported",
          "[scheduler][idle]") {
    idle s(4);
    CHECK(s.num_unparked() == 4);
    CHECK(s.num_searching() == 0);
    CHECK(s.transition_to_searching());
    CHECK(s.transition_to_searching());
    CHECK_FALSE(s.transition_to_searching());  // 2 of 4 already search
    CHECK(s.num_searching() == 2);
    CHECK_FALSE(s.transition_from_searching());  // one is still searching
    CHECK(s.transition_from_searching());        // the last one
    CHECK(s.num_searching() == 0);

    CHECK(s.transition_to_searching());
    CHECK_FALSE(s.transition_to_parked(3, false));  // not searching: never "last searcher"
    CHECK(s.transition_to_parked(2, true));         // the only searcher parks
    CHECK(s.num_unparked() == 2);
    CHECK(s.num_searching() == 0);
    CHECK(s.num_sleepers() == 2);
    CHECK(s.is_parked(2));
    CHECK(s.is_parked(3));
    CHECK_FALSE(s.is_parked(0));
}

TEST_CASE("idle: a producer wakes one sleeper only when nobody searches", "[scheduler][idle]") {
    idle s(3);
    CHECK_FALSE(s.worker_to_notify());  // nobody sleeps
    CHECK_FALSE(s.transition_to_parked(1, false));
    CHECK_FALSE(s.transition_to_parked(2, false));
    REQUIRE(s.transition_to_searching());
    CHECK_FALSE(s.worker_to_notify());  // worker 0 searches: it will find the work
    CHECK(s.transition_from_searching());
    auto w = s.worker_to_notify();
    REQUIRE(w);
    CHECK(*w == 2);                 // the most recent sleeper
    CHECK(s.num_searching() == 1);  // woken as a searcher
    CHECK(s.num_unparked() == 2);
    CHECK_FALSE(s.is_parked(2));
    CHECK_FALSE(s.worker_to_notify());  // it searches now
    CHECK(s.unpark_by_id(1));
    CHECK_FALSE(s.unpark_by_id(1));  // already out
    CHECK(s.num_unparked() == 3);
    CHECK(s.num_sleepers() == 0);
}

TEST_CASE("idle: a worker that unparks and parks again changes the snapshot", "[scheduler][idle]") {
    // The paused clock's auto-advance trusts "two equal snapshots, all parked" to mean that
    // nobody ran in between; an unpark followed by a park must not look like no change.
    idle s(2);
    CHECK_FALSE(s.transition_to_parked(0, false));
    CHECK_FALSE(s.transition_to_parked(1, false));
    auto before = s.snapshot();
    CHECK(idle::all_parked(before));
    CHECK(s.unpark_by_id(1));
    CHECK_FALSE(idle::all_parked(s.snapshot()));
    CHECK_FALSE(s.transition_to_parked(1, false));
    auto after = s.snapshot();
    CHECK(idle::all_parked(after));
    CHECK(after != before);
    CHECK(s.num_unparked() == 0);
    CHECK(s.num_searching() == 0);
    // The counts read the same through many generations (the generation never leaks into
    // them, nor wraps into them).
    for (int i = 0; i < 100'000; ++i) {
        REQUIRE(s.unpark_by_id(0));
        REQUIRE(s.num_unparked() == 1);
        REQUIRE_FALSE(s.transition_to_parked(0, false));
    }
    CHECK(s.num_unparked() == 0);
    CHECK(s.snapshot() != after);
}

namespace {
// A miniature of the worker loop over idle: W threads take items from a shared counter,
// search when out of work (if allowed), park on their semaphore, and are woken through
// worker_to_notify, exactly the calls and order worker.cpp makes. A sleeper whose wait ends by
// its (generous) timeout while items were queued was lost: nobody woke it.
struct mini_scheduler {
    explicit mini_scheduler(std::size_t w)
        : state(w),
          sems(w) {
        for (auto& s : sems) s = std::make_unique<std::counting_semaphore<>>(0);
    }
    void notify() {
        if (auto i = state.worker_to_notify()) sems[*i]->release();
    }
    void produce(long k) {
        work.fetch_add(k, std::memory_order_release);  // publish ...
        notify();                                      // ... then read the idle state
    }
    bool take() {
        long v = work.load(std::memory_order_acquire);
        while (v > 0) {
            if (work.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel)) return true;
        }
        return false;
    }
    void worker_main(std::size_t me) {
        bool searching = false;
        while (!stop.load(std::memory_order_acquire)) {
            if (take()) {
                done.fetch_add(1, std::memory_order_acq_rel);
                if (searching) {
                    searching = false;
                    if (state.transition_from_searching()) notify();  // keep the chain going
                }
                continue;
            }
            if (!searching && state.transition_to_searching()) {
                searching = true;
                continue;  // search once more
            }
            bool was_searching = std::exchange(searching, false);
            if (state.transition_to_parked(me, was_searching)) {
                if (work.load(std::memory_order_acquire) > 0) notify();
            }
            for (;;) {
                if (work.load(std::memory_order_acquire) > 0 || stop.load()) {
                    searching = !state.unpark_by_id(me);
                    break;
                }
                bool woken = sems[me]->try_acquire_for(std::chrono::seconds(5));
                if (!woken) {
                    if (work.load(std::memory_order_acquire) > 0 && !stop.load()) lost.fetch_add(1);
                    continue;
                }
                if (state.is_parked(me)) continue;  // a stale permit: still a sleeper
                searching = true;                   // worker_to_notify marked us searching
                break;
            }
        }
        if (searching) state.transition_from_searching();
    }
    // Counts sampled while running: searching <= unparked <= workers.
    void check_bounds(std::size_t w) {
        std::size_t u = state.num_unparked();
        std::size_t s = state.num_searching();
        if (u > w || s > w) bounds_broken.store(true);
    }

    idle state;
    std::vector<std::unique_ptr<std::counting_semaphore<>>> sems;
    std::atomic<long> work{0};
    std::atomic<long> done{0};
    std::atomic<int> lost{0};
    std::atomic<bool> stop{false};
    std::atomic<bool> bounds_broken{false};
};
}  // namespace

TEST_CASE("idle: bursts from a producer are all taken and no sleeper is lost",
          "[scheduler][idle]") {
    constexpr std::size_t workers = 3;
    const long bursts = static_cast<long>(weft::test::scaled(20'000));
    mini_scheduler m(workers);
    std::vector<std::thread> ts;
    for (std::size_t i = 0; i < workers; ++i) ts.emplace_back([&m, i] { m.worker_main(i); });
    std::thread checker([&] {
        while (!m.stop.load()) m.check_bounds(workers);
    });
    long produced = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (long b = 0; b < bursts; ++b) {
        long k = 1 + b % 3;
        m.produce(k);
        produced += k;
        // Let the workers catch up now and then, so they go back to sleep between bursts.
        if (b % 16 == 15) {
            while (m.done.load() < produced && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::yield();
            }
        }
    }
    while (m.done.load() < produced && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    long done = m.done.load();
    m.stop.store(true);
    for (auto& s : m.sems) s->release();
    for (auto& t : ts) t.join();
    checker.join();
    CHECK(done == produced);
    CHECK(m.lost.load() == 0);
    CHECK_FALSE(m.bounds_broken.load());
}
