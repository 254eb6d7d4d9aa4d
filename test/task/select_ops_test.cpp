// weft::select over operations (recv_op, notified_op, cancelled_op, tick_op, sleep_*_op):
// conservation against a producer (every value received exactly once, a losing tick taken
// by nothing), fairness of the rotation, a nested claim through an enclosing select, the
// caller's abort, the paused clock, misuse and plain threads. Every wait is bounded.
#include "support/harness.hpp"
#include "support/tally.hpp"

#include <weft/channel.hpp>
#include <weft/error.hpp>
#include <weft/sync.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

using weft::test::tally;

namespace {

constexpr auto deadline = 60s;  // a whole test; a hang is a failure, not a stuck suite

std::size_t items() { return weft::test::scaled(20000); }

void check(const tally& t, std::size_t n, const char* what) {
    INFO(what << ": received " << t.received << " of " << n << ", missing " << t.missing()
              << ", duplicated " << t.duplicated);
    CHECK(t.missing() == 0);
    CHECK(t.duplicated == 0);
    CHECK(t.received == n);
}

/// Runs `body(t)` in a task of a 2-worker runtime under the test deadline; returns what it
/// counted of `n` ids.
template <class Body>
tally run_counted(std::size_t n, Body body) {
    auto rt = weft::test::make_runtime();
    tally t(n);
    rt.block_on([&] { weft::timeout(deadline, [&] { body(t); }); });
    return t;
}

/// A producer of `n` ids that sleeps 1 ms every 16, so its wake and a 1 ms tick often fire
/// in one timer pass: a send then grants a value in the instant the tick completes.
template <class Tx>
weft::join_handle<void> produce(std::size_t n, std::size_t base, Tx tx) {
    return weft::spawn([n, base, tx = std::move(tx)]() mutable {
        for (std::size_t i = 0; i < n; ++i) {
            tx.send(base + i);
            if (i % 16 == 15) weft::sleep_for(1ms);
        }
    });
}

}  // namespace

TEST_CASE("select over recv_op and tick_op loses no value and no tick",
          "[concurrency][select][select_ops][conservation]") {
    std::size_t n = items();
    std::size_t ticks = 0;
    std::vector<std::chrono::steady_clock::time_point> due;
    tally counted = run_counted(n, [&](tally& t) {
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(16);
        auto p = produce(n, 0, std::move(tx));
        weft::interval ticker(1ms);
        for (;;) {
            auto r = weft::select(rx.recv_op(), ticker.tick_op());
            if (r.index() == 1) {
                ++ticks;
                due.push_back(std::get<1>(r));
                continue;
            }
            std::optional<std::size_t> v = std::get<0>(r);
            if (!v) break;
            t.add(*v);
        }
        p.join();
    });
    check(counted, n, "recv_op vs tick_op");
    // A tick is taken only by a winning tick_op: the burst schedule hands out every grid
    // point once, in order, 1 ms apart.
    for (std::size_t i = 1; i < due.size(); ++i) {
        INFO("tick " << i);
        CHECK(due[i] - due[i - 1] == std::chrono::nanoseconds(1ms));
    }
    CHECK(ticks > 0);
}

TEST_CASE("select over recv_op on two channels loses no value",
          "[concurrency][select][select_ops][conservation]") {
    std::size_t n = items();
    std::size_t wins[2] = {0, 0};
    tally counted = run_counted(n, [&](tally& t) {
        auto [tx1, rx1] = weft::mpsc::channel<std::size_t>(16);
        auto [tx2, rx2] = weft::mpsc::channel<std::size_t>(16);
        std::size_t half = n / 2;
        auto p1 = produce(half, 0, std::move(tx1));
        auto p2 = produce(n - half, half, std::move(tx2));
        bool open1 = true, open2 = true;
        while (open1 && open2) {
            auto r = weft::select(rx1.recv_op(), rx2.recv_op());
            std::optional<std::size_t> v = r.index() == 0 ? std::get<0>(r) : std::get<1>(r);
            if (v) {
                ++wins[r.index()];
                t.add(*v);
            } else {
                (r.index() == 0 ? open1 : open2) = false;
            }
        }
        if (open1) t.drain(rx1);
        if (open2) t.drain(rx2);
        p1.join();
        p2.join();
    });
    check(counted, n, "recv_op vs recv_op");
    CHECK(wins[0] > 0);
    CHECK(wins[1] > 0);
}

TEST_CASE("select over notified_op and tick_op loses no notification",
          "[concurrency][select][select_ops][conservation]") {
    // Permits merge, so the producer notifies once per acknowledged round; a notification
    // taken by a losing operation would stall its round (counted).
    std::size_t n = weft::test::scaled(4000);
    auto rt = weft::test::make_runtime();
    std::size_t got = 0;
    int stalls = 0;
    rt.block_on([&] {
        weft::timeout(deadline, [&] {
            weft::notify a, b;
            auto [ack_tx, ack_rx] = weft::mpsc::unbounded_channel<std::size_t>();
            auto p = weft::spawn([&, ack_rx = std::move(ack_rx)]() mutable {
                for (std::size_t i = 0; i < n && stalls < 10; ++i) {
                    if (i % 2 == 0) weft::sleep_for(1ms);  // lands in the tick's timer pass
                    (i % 3 == 2 ? b : a).notify_one();
                    try {
                        weft::timeout(500ms, [&] { ack_rx.recv(); });
                    } catch (const weft::elapsed&) {
                        ++stalls;
                    }
                }
            });
            weft::interval ticker(1ms);
            while (got < n && !p.is_finished()) {
                auto r = weft::select(a.notified_op(), b.notified_op(), ticker.tick_op());
                if (r.index() == 2) continue;
                ++got;
                ack_tx.send(got);
            }
            p.join();
        });
    });
    INFO("notifications received " << got << " of " << n << ", stalled rounds " << stalls);
    CHECK(stalls == 0);
    CHECK(got == n);
}

TEST_CASE("select over oneshot recv_op and tick_op loses no value",
          "[concurrency][select][select_ops][conservation]") {
    std::size_t n = weft::test::scaled(4000);
    tally counted = run_counted(n, [&](tally& t) {
        weft::interval ticker(1ms);
        for (std::size_t i = 0; i < n; ++i) {
            auto [tx, rx] = weft::oneshot::channel<std::size_t>();
            auto p = weft::spawn([tx = std::move(tx), i]() mutable {
                weft::sleep_for(1ms);  // lands in the timer pass that fires the tick
                tx.send(i);
            });
            for (;;) {
                auto r = weft::select(rx.recv_op(), ticker.tick_op());
                if (r.index() == 0) {
                    t.add(std::get<0>(r));
                    break;
                }
                if (p.is_finished()) {  // sent: it must still be in the channel
                    if (auto v = rx.try_recv()) t.add(*v);
                    break;
                }
            }
            p.join();
        }
        // A sender dropped unsent: the recv_op wins by throwing channel_closed.
        auto [tx, rx] = weft::oneshot::channel<int>();
        { auto gone = std::move(tx); }
        CHECK_THROWS_AS(weft::select(rx.recv_op(), weft::sleep_for_op(10s)), weft::channel_closed);
    });
    check(counted, n, "oneshot recv_op vs tick_op");
}

TEST_CASE("select over broadcast recv_op and tick_op loses no value",
          "[concurrency][select][select_ops][conservation]") {
    std::size_t n = items();
    tally counted = run_counted(n, [&](tally& t) {
        auto [tx, rx] = weft::broadcast::channel<std::size_t>(n);  // never lags
        auto p = produce(n, 0, std::move(tx));
        weft::interval ticker(1ms);
        try {
            for (;;) {
                auto r = weft::select(rx.recv_op(), ticker.tick_op());
                if (r.index() == 0) t.add(std::get<0>(r));
            }
        } catch (const weft::channel_closed&) {}
        p.join();
        // The select ended at the channel's end: it read everything.
        CHECK_THROWS_AS(rx.try_recv(), weft::channel_closed);
    });
    check(counted, n, "broadcast recv_op vs tick_op");
}

TEST_CASE("select over broadcast recv_op reports a lag like recv",
          "[concurrency][select][select_ops]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] {
        auto [tx, rx] = weft::broadcast::channel<int>(2);
        for (int i = 0; i < 5; ++i) tx.send(i);
        try {
            weft::select(rx.recv_op(), weft::sleep_for_op(10s));
            FAIL("expected broadcast::lagged");
        } catch (const weft::broadcast::lagged& e) {
            CHECK(e.skipped() == 3);
        }
        auto r = weft::select(rx.recv_op(), weft::sleep_for_op(10s));
        REQUIRE(r.index() == 0);
        CHECK(std::get<0>(r) == 3);
        // Waiting, then woken by a send: the winner reads after its wake.
        auto h = weft::spawn([tx = std::move(tx)]() mutable {
            weft::sleep_for(2ms);
            tx.send(9);
        });
        CHECK(std::get<0>(weft::select(rx.recv_op(), weft::sleep_for_op(10s))) == 4);
        auto r2 = weft::select(rx.recv_op(), weft::sleep_for_op(10s));
        REQUIRE(r2.index() == 0);
        CHECK(std::get<0>(r2) == 9);
        h.join();
    });
}

TEST_CASE("select over recv_op and cancelled_op: the values left stay in the channel",
          "[concurrency][select][select_ops][conservation]") {
    std::size_t n = items();
    tally counted = run_counted(n, [&](tally& t) {
        auto [tx, rx] = weft::mpsc::unbounded_channel<std::size_t>();
        weft::cancellation_token stop;
        auto p = weft::spawn([&, tx = std::move(tx)]() mutable {
            for (std::size_t i = 0; i < n; ++i) {
                tx.send(i);
                if (i == n / 2) stop.cancel();  // in mid-stream: the select ends there
                if (i % 16 == 15) weft::yield_now();
            }
        });
        for (;;) {
            auto r = weft::select(rx.recv_op(), stop.cancelled_op());
            if (r.index() == 1) break;
            t.add(*std::get<0>(r));
        }
        CHECK(stop.is_cancelled());
        p.join();
        // Everything the select did not take is still in the channel, once.
        while (auto v = rx.try_recv()) t.add(*v);
    });
    check(counted, n, "recv_op vs cancelled_op, then the rest");
}

TEST_CASE("a select over operations inside a select branch claims through it",
          "[concurrency][select][select_ops][conservation]") {
    std::size_t n = items();
    std::size_t outer_ticks = 0;
    tally counted = run_counted(n, [&](tally& t) {
        auto [tx1, rx1] = weft::mpsc::channel<std::size_t>(16);
        auto [tx2, rx2] = weft::mpsc::channel<std::size_t>(16);
        std::size_t half = n / 2;
        auto p1 = produce(half, 0, std::move(tx1));
        auto p2 = produce(n - half, half, std::move(tx2));
        weft::interval ticker(1ms);
        int open = 2;
        bool open1 = true, open2 = true;
        while (open > 0) {
            auto r = weft::select(
                [&] {
                    if (open1 && open2) {
                        auto in = weft::select(rx1.recv_op(), rx2.recv_op());
                        if (in.index() == 0) return std::pair{0, std::get<0>(in)};
                        return std::pair{1, std::get<1>(in)};
                    }
                    if (open1) return std::pair{0, rx1.recv()};
                    return std::pair{1, rx2.recv()};
                },
                [&] { ticker.tick(); });
            if (r.index() == 1) {
                ++outer_ticks;
                continue;
            }
            auto [which, v] = std::get<0>(r);
            if (v) {
                t.add(*v);
            } else {
                (which == 0 ? open1 : open2) = false;
                --open;
            }
        }
        p1.join();
        p2.join();
    });
    check(counted, n, "select(recv_op, recv_op) in a branch vs tick");
    CHECK(outer_ticks > 0);
}

TEST_CASE("select over operations rotates; select_biased takes the lowest ready index",
          "[concurrency][select][select_ops]") {
    auto rt = weft::test::make_runtime(1);
    rt.block_on([] {
        auto [tx1, rx1] = weft::mpsc::unbounded_channel<int>();
        auto [tx2, rx2] = weft::mpsc::unbounded_channel<int>();
        for (int i = 0; i < 100; ++i) {
            tx1.send(i);
            tx2.send(i);
        }
        int biased_first = 0;
        for (int i = 0; i < 50; ++i) {
            auto r = weft::select_biased(rx1.recv_op(), rx2.recv_op());
            biased_first += r.index() == 0;
        }
        CHECK(biased_first == 50);
        std::size_t wins[2] = {0, 0};
        for (int i = 0; i < 100; ++i) ++wins[weft::select(rx1.recv_op(), rx2.recv_op()).index()];
        CHECK(wins[0] > 10);
        CHECK(wins[1] > 10);
        // Every value is still there once: 50 + wins[0] from the first channel.
        std::size_t left1 = 0, left2 = 0;
        while (rx1.try_recv()) ++left1;
        while (rx2.try_recv()) ++left2;
        CHECK(50 + wins[0] + left1 == 100);
        CHECK(wins[1] + left2 == 100);
    });
}

TEST_CASE("select over operations: a due tick wins within two selects while values are "
          "always ready",
          "[concurrency][select][select_ops][fairness][time]") {
    // A paused clock makes "due" exact: the tick becomes due at each advance and at no other
    // moment, so the count of receives between an advance and the tick's win measures the
    // rotation alone. A fixed start order (always the receive first) fails here: the channel
    // never runs dry, so the tick would never win.
    auto rt = weft::builder::current_thread().start_paused(true).build();
    rt.block_on([] {
        constexpr std::size_t n = 20000, every = 64;
        auto [tx, rx] = weft::mpsc::unbounded_channel<std::size_t>();
        for (std::size_t i = 0; i < n + 2 * every; ++i) tx.send(i);
        weft::interval ticker(1ms);
        ticker.tick();  // the first tick is immediate; from here one is due per advance
        std::size_t received = 0, ticks = 0, since_due = 0, worst_wait = 0;
        bool due = false;
        while (received < n) {
            auto r = weft::select(rx.recv_op(), ticker.tick_op());
            if (r.index() == 1) {
                REQUIRE(due);  // a tick wins only when one is due
                ++ticks;
                worst_wait = std::max(worst_wait, since_due);
                due = false;
                continue;
            }
            REQUIRE(std::get<0>(r).has_value());
            ++received;
            if (due) ++since_due;
            if (received % every == 0) {
                REQUIRE_FALSE(due);  // the last tick was taken before the next is due
                weft::time::advance(1ms);
                due = true;
                since_due = 0;
            }
        }
        INFO("ticks " << ticks << ", worst receives before a due tick won " << worst_wait);
        CHECK(ticks >= n / every - 1);
        CHECK(worst_wait <= 1);

        // Biased toward the receive, the tick never wins while a value is ready.
        weft::time::advance(1ms);
        for (std::size_t i = 0; i < every; ++i) {
            CHECK(weft::select_biased(rx.recv_op(), ticker.tick_op()).index() == 0);
        }
    });
}

TEST_CASE("select over operations: a sleep wins on an empty channel and takes nothing",
          "[concurrency][select][select_ops]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(4);
        auto t0 = weft::time::now();
        auto r = weft::select(rx.recv_op(), weft::sleep_for_op(5ms));
        CHECK(r.index() == 1);
        CHECK(weft::time::now() - t0 >= 5ms);
        // The receive was withdrawn: the receiver is free, and the next value is received.
        tx.send(7);
        auto r2 = weft::select(rx.recv_op(), weft::sleep_until_op(weft::time::now() + 10s));
        REQUIRE(r2.index() == 0);
        CHECK(std::get<0>(r2) == 7);
        // A deadline already past completes at once.
        auto r3 = weft::select(rx.recv_op(), weft::sleep_until_op(weft::time::now() - 1s));
        CHECK(r3.index() == 1);
        // The channel's end completes a recv_op with nullopt.
        { auto gone = std::move(tx); }
        auto r4 = weft::select(rx.recv_op(), weft::sleep_for_op(10s));
        REQUIRE(r4.index() == 0);
        CHECK_FALSE(std::get<0>(r4).has_value());
    });
}

TEST_CASE("select over operations on a paused clock jumps to the sleep's deadline",
          "[concurrency][select][select_ops][time]") {
    auto rt = weft::builder::multi_thread().worker_threads(2).start_paused(true).build();
    rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(4);
        auto t0 = weft::time::now();
        auto r = weft::select(rx.recv_op(), weft::sleep_for_op(1h));
        CHECK(r.index() == 1);
        CHECK(weft::time::now() - t0 >= 1h);
    });
}

TEST_CASE("aborting a task waiting in a select over operations withdraws every operation",
          "[concurrency][select][select_ops][cancel]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(4);
        weft::notify n;
        std::atomic<bool> waiting{false};
        auto h = weft::spawn([&] {
            waiting = true;
            weft::select(rx.recv_op(), n.notified_op(), weft::sleep_for_op(1h));
        });
        while (!waiting) weft::yield_now();
        weft::sleep_for(5ms);
        h.abort();
        try {
            h.join();
            FAIL("the aborted select returned");
        } catch (const weft::join_error& e) {
            CHECK(e.is_cancelled());
        }
        // Nothing of the aborted select is left queued: the receiver can be used again, a
        // notification is stored for the next waiter, and nothing was taken.
        tx.send(1);
        CHECK(rx.recv() == 1);
        n.notify_one();
        auto r = weft::select(n.notified_op(), weft::sleep_for_op(10s));
        CHECK(r.index() == 0);
        // A timeout around it ends it the same way.
        CHECK_THROWS_AS(weft::timeout(5ms, [&] { weft::select(rx.recv_op(), n.notified_op()); }),
                        weft::elapsed);
        tx.send(2);
        CHECK(rx.recv() == 2);
    });
}

TEST_CASE("select over operations: misuse is a clear error and leaves nothing queued",
          "[concurrency][select][select_ops][errors]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(4);
        // The same receiver twice: the second start finds the first queued.
        try {
            weft::select(rx.recv_op(), rx.recv_op());
            FAIL("expected std::logic_error");
        } catch (const std::logic_error& e) {
            CHECK(std::string(e.what()).find("used concurrently") != std::string::npos);
        }
        tx.send(3);
        CHECK(rx.recv() == 3);
    });
    // Off a runtime, a timer operation cannot be armed: weft::no_runtime, nothing queued.
    auto [tx, rx] = weft::mpsc::channel<int>(4);
    CHECK_THROWS_AS(weft::select(rx.recv_op(), weft::sleep_for_op(10ms)), weft::no_runtime);
    tx.send(4);
    CHECK(rx.try_recv() == 4);
}

TEST_CASE("select over operations works on a plain thread", "[concurrency][select][select_ops]") {
    auto rt = weft::test::make_runtime();
    auto [tx1, rx1] = weft::mpsc::channel<int>(4);
    auto [tx2, rx2] = weft::mpsc::channel<int>(4);
    auto h = rt.spawn([tx2 = std::move(tx2)] {
        weft::sleep_for(2ms);
        tx2.send(9);
    });
    auto r = weft::select(rx1.recv_op(), rx2.recv_op());
    REQUIRE(r.index() == 1);
    CHECK(std::get<1>(r) == 9);
    h.join();
    tx1.send(1);
    CHECK(rx1.try_recv() == 1);
}
