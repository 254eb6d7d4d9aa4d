// weft::broadcast: what Tokio's tests/sync_broadcast.rs checks, plus cancel-safety and Asio
// forms.
#include "channel/channel_test_util.hpp"

#include <weft/channel.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <future>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using weft::test::lifetime_counter;

TEST_CASE("broadcast: every receiver sees every value", "[channel][broadcast]") {
    auto [tx, rx1] = weft::broadcast::channel<int>(16);
    auto rx2 = tx.subscribe();
    CHECK(tx.send(1) == 2);
    CHECK(tx.send(2) == 2);
    CHECK(rx1.recv() == 1);
    CHECK(rx1.recv() == 2);
    CHECK(rx2.try_recv() == 1);
    CHECK(rx2.try_recv() == 2);
    CHECK_FALSE(rx1.try_recv().has_value());
    CHECK_FALSE(rx2.try_recv().has_value());
}

TEST_CASE("broadcast: capacity 0 is rejected", "[channel][broadcast]") {
    CHECK_THROWS_AS(weft::broadcast::channel<int>(0), std::invalid_argument);
}

TEST_CASE("broadcast: a lagging receiver gets the exact skipped count, then the oldest kept",
          "[channel][broadcast]") {
    auto [tx, rx] = weft::broadcast::channel<int>(2);
    tx.send(1);
    tx.send(2);
    tx.send(3);  // overwrites 1
    try {
        rx.recv();
        FAIL("no lag reported");
    } catch (const weft::broadcast::lagged& e) {
        CHECK(e.skipped() == 1);
        CHECK(e.code() == weft::error::lagged);
    }
    CHECK(rx.recv() == 2);
    CHECK(rx.recv() == 3);
    CHECK_FALSE(rx.try_recv().has_value());

    for (int i = 4; i <= 10; ++i) tx.send(i);  // 7 sent into capacity 2: 5 lost
    try {
        (void)rx.try_recv();
        FAIL("no lag reported");
    } catch (const weft::broadcast::lagged& e) {
        CHECK(e.skipped() == 5);
    }
    CHECK(rx.try_recv() == 9);
    CHECK(rx.try_recv() == 10);
}

TEST_CASE("broadcast: capacity is exact", "[channel][broadcast]") {
    for (std::size_t cap : {1U, 3U, 5U, 100U}) {
        auto [tx, rx] = weft::broadcast::channel<std::size_t>(cap);
        for (std::size_t i = 0; i < cap; ++i) tx.send(i);
        std::size_t n = 0;
        while (auto v = rx.try_recv()) CHECK(*v == n++);  // no lag at exactly cap
        CHECK(n == cap);
        for (std::size_t i = 0; i <= cap; ++i) tx.send(i);  // one more than cap
        CHECK_THROWS_AS(rx.try_recv(), weft::broadcast::lagged);
        CHECK(rx.try_recv() == 1U);
    }
}

TEST_CASE("broadcast: send without receivers returns 0; receiver_count", "[channel][broadcast]") {
    auto [tx, rx] = weft::broadcast::channel<int>(4);
    CHECK(tx.receiver_count() == 1);
    auto rx2 = tx.subscribe();
    auto tx2 = tx;
    CHECK(tx2.receiver_count() == 2);
    { auto gone = std::move(rx); }
    CHECK(tx.receiver_count() == 1);
    { auto gone = std::move(rx2); }
    CHECK(tx.receiver_count() == 0);
    CHECK(tx.send(1) == 0);
    auto rx3 = tx.subscribe();
    CHECK(tx.send(2) == 1);
    CHECK(rx3.recv() == 2);  // a subscriber sees only what is sent after it subscribed
}

TEST_CASE("broadcast: a new subscriber starts at the tail", "[channel][broadcast]") {
    auto [tx, rx] = weft::broadcast::channel<int>(8);
    tx.send(1);
    auto late = tx.subscribe();
    tx.send(2);
    CHECK(late.try_recv() == 2);
    CHECK(rx.try_recv() == 1);
    CHECK(rx.try_recv() == 2);
}

TEST_CASE("broadcast: dropping the last sender closes after the values drain",
          "[channel][broadcast]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::broadcast::channel<int>(4);
        auto h = weft::spawn([rx = std::move(rx)]() mutable {
            std::vector<int> got;
            try {
                for (;;) got.push_back(rx.recv());
            } catch (const weft::channel_closed&) {
                got.push_back(-1);
            }
            return got;
        });
        weft::test::settle();
        auto tx2 = tx;
        tx.send(1);
        { auto drop = std::move(tx); }
        tx2.send(2);
        { auto drop = std::move(tx2); }
        return h.join();
    });
    CHECK(r == std::vector<int>{1, 2, -1});
}

TEST_CASE("broadcast: values are dropped once every receiver read them or went away",
          "[channel][broadcast]") {
    lifetime_counter::alive = 0;
    {
        auto [tx, rx1] = weft::broadcast::channel<lifetime_counter>(4);
        auto rx2 = tx.subscribe();
        tx.send(lifetime_counter{});
        tx.send(lifetime_counter{});
        CHECK(lifetime_counter::alive.load() == 2);
        rx1.recv();
        rx1.recv();
        CHECK(lifetime_counter::alive.load() == 2);  // rx2 has not read them
        rx2.recv();
        CHECK(lifetime_counter::alive.load() == 1);
        { auto gone = std::move(rx2); }
        CHECK(lifetime_counter::alive.load() == 0);
    }
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("broadcast: concurrent receivers each see every value they did not lag past",
          "[channel][broadcast]") {
    auto rt = weft::test::make_runtime();
    constexpr int receivers = 4;
    const int total = static_cast<int>(weft::test::scaled(20000));
    struct tally {
        long received = 0, skipped = 0;
        bool ordered = true, closed = false;
    };
    auto tallies = rt.block_on([&] {
        auto [tx, rx0] = weft::broadcast::channel<int>(8);
        std::vector<weft::join_handle<tally>> hs;
        auto worker = [](weft::broadcast::receiver<int> rx) {
            tally t;
            int last = -1;
            for (;;) {
                try {
                    int v = rx.recv();
                    if (v <= last) t.ordered = false;
                    last = v;
                    ++t.received;
                } catch (const weft::broadcast::lagged& e) {
                    t.skipped += static_cast<long>(e.skipped());
                } catch (const weft::channel_closed&) {
                    t.closed = true;
                    return t;
                }
            }
        };
        hs.push_back(
            weft::spawn([rx = std::move(rx0), worker]() mutable { return worker(std::move(rx)); }));
        for (int i = 1; i < receivers; ++i) {
            hs.push_back(weft::spawn(
                [rx = tx.subscribe(), worker]() mutable { return worker(std::move(rx)); }));
        }
        for (int i = 0; i < total; ++i) {
            tx.send(i);
            if (i % 64 == 0) weft::yield_now();
        }
        { auto drop = std::move(tx); }
        std::vector<tally> out;
        for (auto& h : hs) out.push_back(h.join());
        return out;
    });
    for (const tally& t : tallies) {
        CHECK(t.ordered);
        CHECK(t.closed);
        CHECK(t.received + t.skipped == total);
    }
}

TEST_CASE("broadcast: abort while parked in recv consumes nothing", "[channel][broadcast][abort]") {
    auto rt = weft::test::make_runtime();
    const int rounds = static_cast<int>(weft::test::scaled(200));
    int ok = rt.block_on([&] {
        int good = 0;
        for (int i = 0; i < rounds; ++i) {
            auto [tx, rx] = weft::broadcast::channel<int>(4);
            auto h = weft::spawn([&rx] { return rx.recv(); });
            for (int k = 0; k < i % 3; ++k) weft::yield_now();
            tx.send(i);
            if (i % 2) weft::yield_now();
            h.abort();
            std::optional<int> got;
            try {
                got = h.join();
            } catch (const weft::join_error&) {}
            std::optional<int> left = rx.try_recv();
            if (got.has_value() != left.has_value() && (got ? *got : *left) == i) ++good;
        }
        return good;
    });
    CHECK(ok == rounds);
}

TEST_CASE("broadcast: async_recv forms and cancellation", "[channel][broadcast][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::broadcast::channel<std::string>(2);
    {
        std::string got;
        rx.async_recv(asio::bind_executor(
            ioc, [&](boost::system::error_code ec, std::string v) { got = ec ? "error" : v; }));
        CHECK(ioc.poll() == 0);
        tx.send("one");
        CHECK(weft::test::run_until(ioc, [&] { return !got.empty(); }));
        CHECK(got == "one");
    }
    {
        tx.send("a");
        tx.send("b");
        tx.send("c");  // "a" lost
        // The error through a callback, not use_future: an exception_ptr crossing threads
        // inside libstdc++ is invisible to TSan and would be reported as a race.
        std::promise<boost::system::error_code> lag;
        rx.async_recv([&](boost::system::error_code ec, std::string) { lag.set_value(ec); });
        auto f = lag.get_future();
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        CHECK(f.get() == weft::error::lagged);
        auto op = rx.async_recv(asio::deferred);
        std::promise<std::string> p;
        std::move(op)([&](boost::system::error_code, std::string v) { p.set_value(v); });
        auto pf = p.get_future();
        REQUIRE(pf.wait_for(5s) == std::future_status::ready);
        CHECK(pf.get() == "b");
        CHECK(rx.try_recv() == "c");
    }
    {
        asio::cancellation_signal sig;
        boost::system::error_code ec;
        bool done = false;
        rx.async_recv(asio::bind_cancellation_slot(
            sig.slot(), asio::bind_executor(ioc, [&](boost::system::error_code e, std::string) {
                ec = e;
                done = true;
            })));
        ioc.restart();
        ioc.poll();
        sig.emit(asio::cancellation_type::total);
        CHECK(weft::test::run_until(ioc, [&] { return done; }));
        CHECK(ec == asio::error::operation_aborted);
        tx.send("kept");
        CHECK(rx.try_recv() == "kept");
    }
    {
        auto rt = weft::test::make_runtime();
        std::vector<std::string> got;
        bool closed = false;
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                for (;;) {
                    auto [ec, v] = co_await rx.async_recv(asio::as_tuple(asio::use_awaitable));
                    if (ec == weft::error::channel_closed) break;
                    if (!ec) got.push_back(v);
                }
                closed = true;
            },
            asio::detached);
        rt.spawn([tx = std::move(tx)] {
              weft::sleep_for(5ms);
              tx.send("x");
          }).join();
        CHECK(weft::test::run_until(ioc, [&] { return closed; }));
        CHECK(got == std::vector<std::string>{"x"});
    }
}
