// weft::task_tracker: the graceful-shutdown pattern, deadlines (paused and real clocks),
// plain-thread waiters, cancellation of wait, track()/token(), close/reopen bookkeeping.
#include "support/harness.hpp"

#include <weft/sync.hpp>

#include <boost/asio/post.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <tuple>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;

TEST_CASE("task_tracker: spawn N, close, wait with a deadline", "[task][task_tracker]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    constexpr int n = 50;
    std::atomic<int> ended{0};
    auto r = rt.block_on([&] {
        weft::task_tracker tracker;
        for (int i = 0; i < n; ++i) {
            // Handles dropped: the tracker waits for detached tasks too.
            tracker.spawn([&ended, i, g = lifetime_counter()] {
                weft::sleep_for(std::chrono::microseconds(100 * (i % 7)));
                ended++;
            });
        }
        auto len_open = tracker.len();
        bool open_wait = tracker.wait_for(20ms);  // not closed: never done, however empty
        bool first_close = tracker.close();
        bool second_close = tracker.close();
        bool done = tracker.wait_for(10s);
        // Captures are destroyed before the count drops, so none is left once wait returns.
        return std::make_tuple(len_open, open_wait, first_close, second_close, done,
                               lifetime_counter::alive.load(), tracker.len(), tracker.is_empty(),
                               tracker.is_closed());
    });
    CHECK(std::get<0>(r) <= static_cast<std::size_t>(n));
    CHECK_FALSE(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK_FALSE(std::get<3>(r));
    CHECK(std::get<4>(r));
    CHECK(std::get<5>(r) == 0);
    CHECK(std::get<6>(r) == 0);
    CHECK(std::get<7>(r));
    CHECK(std::get<8>(r));
    CHECK(ended.load() == n);
}

TEST_CASE("task_tracker: a task that never ends makes wait_for return false on time",
          "[task][task_tracker][paused]") {
    auto rt = weft::builder::current_thread().start_paused(true).build();
    auto r = rt.block_on([] {
        weft::task_tracker tracker;
        weft::notify never;
        auto stuck = tracker.spawn([&never] { never.notified(); });
        tracker.spawn([] { weft::sleep_for(1s); });
        tracker.close();
        auto start = weft::time::now();
        bool in_time = tracker.wait_for(5s);
        auto waited = weft::time::now() - start;
        auto left = tracker.len();
        bool until = tracker.wait_until(weft::time::now() + 1s);
        stuck.abort();
        bool after_abort = tracker.wait_for(1s);
        return std::make_tuple(in_time, waited, left, until, after_abort, tracker.len());
    });
    CHECK_FALSE(std::get<0>(r));
    CHECK(std::get<1>(r) == 5s);  // exactly the deadline: the paused clock jumps there
    CHECK(std::get<2>(r) == 1);   // the sleeper ended, the stuck task did not
    CHECK_FALSE(std::get<3>(r));
    CHECK(std::get<4>(r));
    CHECK(std::get<5>(r) == 0);
}

TEST_CASE("task_tracker: wait_for on the real clock returns false on time",
          "[task][task_tracker]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::task_tracker tracker;
        weft::notify never;
        auto stuck = tracker.spawn([&never] { never.notified(); });
        tracker.close();
        auto t0 = std::chrono::steady_clock::now();
        bool done = tracker.wait_for(30ms);
        auto waited = std::chrono::steady_clock::now() - t0;
        stuck.abort();
        bool after = tracker.wait_for(10s);
        return std::make_tuple(done, waited, after);
    });
    CHECK_FALSE(std::get<0>(r));
    CHECK(std::get<1>(r) >= 30ms);
    CHECK(std::get<1>(r) < 5s);
    CHECK(std::get<2>(r));
}

TEST_CASE("task_tracker: waiting from plain threads", "[task][task_tracker]") {
    auto rt = weft::test::make_runtime();
    weft::task_tracker tracker;
    std::atomic<bool> release{false};
    rt.block_on([&] {
        for (int i = 0; i < 4; ++i) {
            tracker.spawn([&release] {
                while (!release) weft::sleep_for(200us);
            });
        }
    });
    tracker.close();
    // A thread that is not part of the runtime, and one of its blocking-pool threads.
    bool early = tracker.wait_for(20ms);
    auto outside = std::async(std::launch::async, [&] { return tracker.wait_for(10s); });
    auto pool = rt.spawn_blocking([&] {
        tracker.wait();
        return tracker.is_empty();
    });
    std::this_thread::sleep_for(5ms);
    release = true;
    bool outside_ready = outside.wait_for(10s) == std::future_status::ready;
    bool pool_done = rt.block_on([&] { return weft::timeout(10s, [&] { return pool.join(); }); });
    CHECK_FALSE(early);
    REQUIRE(outside_ready);
    CHECK(outside.get());
    CHECK(pool_done);
    CHECK(tracker.wait_for(0s));  // already done: true at once
}

TEST_CASE("task_tracker: wait is a cancel-safe cancellation point", "[task][task_tracker]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::task_tracker tracker;
        std::atomic<bool> release{false};
        tracker.spawn([&release] {
            while (!release) weft::sleep_for(200us);
        });
        tracker.close();
        bool elapsed = false;
        try {
            weft::timeout(5ms, [&] { tracker.wait(); });
        } catch (const weft::elapsed&) {
            elapsed = true;
        }
        std::atomic<bool> waiting{false};
        auto waiter = weft::spawn([&] {
            waiting = true;
            tracker.wait();
        });
        while (!waiting) weft::sleep_for(1ms);
        weft::sleep_for(2ms);
        waiter.abort();
        bool cancelled = false;
        try {
            waiter.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        auto len_after = tracker.len();
        release = true;
        bool done = tracker.wait_for(10s);  // nothing was lost by the cancelled waits
        return std::make_tuple(elapsed, cancelled, len_after, done);
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == 1);
    CHECK(std::get<3>(r));
}

TEST_CASE("task_tracker: track() and token() count any work; reopen", "[task][task_tracker]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::task_tracker tracker;
        weft::task_tracker copy = tracker;  // one tracker, two handles
        std::atomic<bool> release{false};
        auto named = weft::task_builder().name("tracked").spawn(copy.track([&release] {
            while (!release) weft::sleep_for(200us);
            return 3;
        }));
        weft::join_set<int> set;
        set.spawn(tracker.track([&release] {
            while (!release) weft::sleep_for(200us);
            return 4;
        }));
        auto token = tracker.token();
        auto unused = tracker.track([] {});  // counted until destroyed, even never spawned
        auto counted = tracker.len();
        release = true;
        int sum = named.join() + set.join_next().value_or(0);
        { auto gone = std::move(unused); }
        tracker.close();
        bool with_token = tracker.wait_for(10ms);  // the token still counts
        auto moved = std::move(token);
        bool moved_valid = moved.valid() && !token.valid();
        moved = weft::task_tracker_token();
        bool done = copy.wait_for(10s);
        bool reopened = tracker.reopen();
        bool reopened_twice = tracker.reopen();
        bool open_again = !copy.is_closed();
        return std::make_tuple(counted, sum, with_token, moved_valid, done, reopened,
                               reopened_twice, open_again);
    });
    CHECK(std::get<0>(r) == 4);
    CHECK(std::get<1>(r) == 7);
    CHECK_FALSE(std::get<2>(r));
    CHECK(std::get<3>(r));
    CHECK(std::get<4>(r));
    CHECK(std::get<5>(r));
    CHECK_FALSE(std::get<6>(r));
    CHECK(std::get<7>(r));
}

TEST_CASE("task_tracker: aborted and failed spawns are uncounted", "[task][task_tracker]") {
    weft::task_tracker tracker;
    CHECK_THROWS_AS(tracker.spawn([] {}), weft::no_runtime);  // no runtime: nothing tracked
    CHECK(tracker.len() == 0);
    auto rt = weft::test::make_runtime();
    bool done = rt.block_on([&] {
        weft::notify never;
        auto a = tracker.spawn([&never] { never.notified(); });
        a.abort();
        auto b = tracker.spawn([]() -> int { throw std::runtime_error("tracked failure"); });
        tracker.close();
        bool ok = tracker.wait_for(10s);
        try {
            b.join();
        } catch (const weft::join_error&) {}
        return ok;
    });
    CHECK(done);
    CHECK(tracker.is_empty());
}

TEST_CASE("task_tracker: waiting on a worker outside a task is refused", "[task][task_tracker]") {
    auto rt = weft::test::make_runtime();
    weft::task_tracker tracker;
    std::promise<bool> refused;
    auto fut = refused.get_future();
    boost::asio::post(rt.get_executor(), [&] {
        try {
            tracker.wait_for(1ms);
            refused.set_value(false);
        } catch (const std::logic_error&) {
            refused.set_value(true);
        }
    });
    REQUIRE(fut.wait_for(10s) == std::future_status::ready);
    CHECK(fut.get());
}
