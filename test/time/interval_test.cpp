// weft::interval: first tick immediate, the schedule, missed-tick behaviours, reset,
// cancellation. Real clock: the ticks' returned time points are exact (they are the
// schedule), only the waiting is checked with generous bounds.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <weft/channel.hpp>
#include <weft/task.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("interval: the first tick completes immediately", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto before = weft::time::now();
        weft::interval every(1h);
        auto first = every.tick();
        auto after = weft::time::now();
        return std::make_tuple(before, first, after);
    });
    CHECK(std::get<1>(r) >= std::get<0>(r));
    CHECK(std::get<1>(r) <= std::get<2>(r));
    CHECK(std::get<2>(r) - std::get<0>(r) < 1s);
}

TEST_CASE("interval: ticks follow the period and return their scheduled time",
          "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::interval every(15ms);
        std::vector<clock_type::time_point> due;
        std::vector<clock_type::time_point> seen;
        for (int i = 0; i < 4; ++i) {
            due.push_back(every.tick());
            seen.push_back(weft::time::now());
        }
        return std::make_pair(due, seen);
    });
    const auto& due = r.first;
    const auto& seen = r.second;
    for (std::size_t i = 1; i < due.size(); ++i) {
        CHECK(due[i] - due[0] == i * 15ms);
        CHECK(seen[i] >= due[i]);  // never early
    }
    CHECK(seen.back() - due.front() < 5s);
}

TEST_CASE("interval: the default missed-tick behaviour is burst", "[concurrency][interval]") {
    weft::interval every(1s);
    CHECK(every.get_missed_tick_behavior() == weft::missed_tick_behavior::burst);
    CHECK(every.period() == 1s);
}

TEST_CASE("interval: burst catches up at once after a stall", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    constexpr auto period = 40ms;
    auto r = rt.block_on([=] {
        weft::interval every(period);
        auto start = every.tick();
        weft::sleep_until(start + 3 * period + period / 2);  // misses the ticks at 1, 2, 3
        auto caught_up_from = weft::time::now();
        std::vector<clock_type::time_point> due;
        for (int i = 0; i < 3; ++i) due.push_back(every.tick());
        auto caught_up_at = weft::time::now();
        auto fourth = every.tick();
        auto fourth_seen = weft::time::now();
        return std::make_tuple(start, due, caught_up_at - caught_up_from, fourth, fourth_seen);
    });
    auto [start, due, catch_up_took, fourth, fourth_seen] = r;
    CHECK(due[0] == start + period);
    CHECK(due[1] == start + 2 * period);
    CHECK(due[2] == start + 3 * period);
    CHECK(catch_up_took < period);  // no waiting while catching up
    CHECK(fourth == start + 4 * period);
    CHECK(fourth_seen >= fourth);
}

TEST_CASE("interval: delay restarts the schedule from the late tick", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    constexpr auto period = 40ms;
    auto r = rt.block_on([=] {
        weft::interval every(period);
        every.set_missed_tick_behavior(weft::missed_tick_behavior::delay);
        auto start = every.tick();
        weft::sleep_until(start + 2 * period + period / 4);  // the tick at 1 is late by >5 ms
        auto before_late = weft::time::now();
        auto late = every.tick();
        auto next = every.tick();
        return std::make_tuple(start, before_late, late, next);
    });
    auto [start, before_late, late, next] = r;
    CHECK(late == start + period);        // the missed tick itself is reported once
    CHECK(next >= before_late + period);  // then one period after it completed, off the grid
    CHECK(next - start < 10s);
}

TEST_CASE("interval: skip drops the missed ticks and keeps the grid", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    constexpr auto period = 40ms;
    auto r = rt.block_on([=] {
        weft::interval every(period);
        every.set_missed_tick_behavior(weft::missed_tick_behavior::skip);
        auto start = every.tick();
        weft::sleep_until(start + 2 * period + period / 4);  // 1 and 2 are missed
        auto late = every.tick();
        auto after_late = weft::time::now();
        auto next = every.tick();
        return std::make_tuple(start, late, after_late, next);
    });
    auto [start, late, after_late, next] = r;
    CHECK(late == start + period);
    CHECK((next - start) % period == clock_type::duration::zero());  // on the grid
    CHECK(next > start + 2 * period);                                // 2 was skipped
    CHECK(next <= after_late + period);                              // the first point after
}

TEST_CASE("interval: reset restarts one period from now", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::interval every(30ms);
        auto start = every.tick();
        weft::sleep_for(10ms);
        auto before_reset = weft::time::now();
        every.reset();
        auto next = every.tick();
        return std::make_tuple(start, before_reset, next);
    });
    auto [start, before_reset, next] = r;
    CHECK(next >= before_reset + 30ms);
    CHECK(next != start + 30ms);
}

TEST_CASE("interval: a start time point delays the first tick", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto start = weft::time::now() + 20ms;
        weft::interval every(start, 1h);
        auto first = every.tick();
        return std::make_tuple(start, first, weft::time::now());
    });
    CHECK(std::get<1>(r) == std::get<0>(r));
    CHECK(std::get<2>(r) >= std::get<0>(r));
}

TEST_CASE("interval: a non-positive period is rejected", "[concurrency][interval]") {
    CHECK_THROWS_AS(weft::interval(0ms), std::invalid_argument);
    CHECK_THROWS_AS(weft::interval(-1s), std::invalid_argument);
}

TEST_CASE("interval: tick is a cancellation point and cancel-safe", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::interval every(40ms);
        auto start = every.tick();
        bool timed_out = false;
        try {
            weft::timeout(5ms, [&] { every.tick(); });
        } catch (const weft::elapsed&) {
            timed_out = true;
        }
        auto next = every.tick();  // the interrupted tick was not consumed
        return std::make_tuple(start, timed_out, next);
    });
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == std::get<0>(r) + 40ms);
}

TEST_CASE("interval: a tick due when another select branch wins is not consumed",
          "[concurrency][interval][select]") {
    // The receive branch claims the select with its value and is still running when the
    // tick branch finds its tick due: the tick branch must be refused before it moves the
    // schedule on, so the next tick() returns that same tick. The tick branch waits for the
    // claim before it looks, so this holds whichever branch starts first (shuffle mode
    // reorders them, and a tick branch started first would win with its due tick).
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::interval every(40ms);
        auto first = every.tick();
        weft::sleep_for(60ms);  // the tick due at first + 40 ms is due now
        auto [tx, rx] = weft::mpsc::channel<int>(1);
        tx.send(7);
        std::atomic<bool> claimed{false};
        auto won = weft::select(
            [&] {
                auto v = rx.recv();  // claims the select
                claimed = true;
                weft::sleep_for(5ms);  // holds the claim while the tick branch runs
                return v;
            },
            [&] {
                // Bounded: the receive is ready, so the claim comes within a few turns; an
                // abort ends the loop anyway (yield_now is a cancellation point).
                for (int turns = 0; !claimed.load() && turns < 100'000; ++turns) weft::yield_now();
                return every.tick();
            });
        auto next = every.tick();
        return std::make_tuple(won.index(), first, next);
    });
    REQUIRE(std::get<0>(r) == 0);
    CHECK(std::get<2>(r) == std::get<1>(r) + 40ms);
}

TEST_CASE("interval: a select loop against a busy channel loses no tick",
          "[concurrency][interval][select]") {
    // Conservation: every tick that a select loop's tick branch took is counted, and the
    // loop afterwards drains the due ticks without a select. With ticks lost to the race,
    // the total falls short of the schedule: the ticks due over the run, one per period.
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(64);
        std::atomic<bool> stop{false};
        auto producer = weft::spawn([tx = std::move(tx), &stop]() mutable {
            while (!stop.load()) {
                tx.send(1);
                weft::yield_now();
            }
        });
        weft::interval every(2ms);
        const auto start = every.tick();
        const auto end = start + 300ms;
        std::size_t ticks = 1;
        std::size_t values = 0;
        clock_type::time_point last = start;
        while (weft::time::now() < end) {
            auto won = weft::select([&] { return rx.recv(); }, [&] { return every.tick(); });
            if (won.index() == 1) {
                ++ticks;
                last = std::get<1>(won);
            } else {
                ++values;
            }
        }
        stop = true;
        producer.abort();
        try {
            producer.join();  // it uses `stop` on this frame: wait until it is gone
        } catch (const weft::join_error&) {}
        // The schedule never skips a tick (burst), so the ticks taken so far are exactly
        // the ones from `start` to `last`, one period apart.
        const auto expected = static_cast<std::size_t>((last - start) / 2ms) + 1;
        return std::make_tuple(ticks, expected, values);
    });
    CHECK(std::get<0>(r) == std::get<1>(r));
    CHECK(std::get<0>(r) > 10);
    CHECK(std::get<2>(r) > 0);
}

TEST_CASE("interval: aborting a task waiting for a tick cancels it", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    std::atomic<int> ticks{0};
    bool cancelled = rt.block_on([&] {
        auto h = weft::spawn([&] {
            weft::interval every(1h);
            for (;;) {
                every.tick();
                ticks++;
            }
        });
        while (ticks.load() == 0) weft::sleep_for(1ms);
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);
    CHECK(ticks.load() == 1);
}

TEST_CASE("interval: a burst of due ticks can still be aborted", "[concurrency][interval]") {
    auto rt = weft::test::make_runtime();
    std::atomic<long> ticks{0};
    bool cancelled = rt.block_on([&] {
        auto h = weft::spawn([&] {
            // Started far in the past: every tick is due, tick() never has to wait.
            weft::interval every(weft::time::now() - 1h, 1ns);
            for (;;) {
                every.tick();
                ticks++;
            }
        });
        while (ticks.load() < 1000) weft::sleep_for(1ms);
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);
}

TEST_CASE("interval on a plain thread blocks it", "[concurrency][interval]") {
    weft::interval every(10ms);
    auto t0 = every.tick();
    auto t1 = every.tick();
    CHECK(t1 - t0 == 10ms);
    CHECK(clock_type::now() >= t1);
}
