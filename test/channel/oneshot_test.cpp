// weft::oneshot: what Tokio's tests/sync_oneshot.rs checks, plus cancel-safety and Asio forms.
#include "channel/channel_test_util.hpp"

#include <weft/channel.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <future>
#include <memory>
#include <string>
#include <thread>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using weft::test::lifetime_counter;

TEST_CASE("oneshot: send then recv", "[channel][oneshot]") {
    auto [tx, rx] = weft::oneshot::channel<std::string>();
    CHECK_FALSE(tx.is_closed());
    CHECK(tx.send("hello"));
    CHECK(rx.recv() == "hello");
    // The value was taken and the sender is used up.
    CHECK_THROWS_AS(rx.recv(), weft::channel_closed);
}

TEST_CASE("oneshot: recv waits for a send from another task", "[channel][oneshot]") {
    auto rt = weft::test::make_runtime();
    auto v = rt.block_on([] {
        auto [tx, rx] = weft::oneshot::channel<int>();
        auto h = weft::spawn([tx = std::move(tx)]() mutable {
            weft::sleep_for(10ms);
            return tx.send(42);
        });
        int got = rx.recv();
        return std::make_pair(got, h.join());
    });
    CHECK(v.first == 42);
    CHECK(v.second);
}

TEST_CASE("oneshot: a sender dropped unsent closes the channel", "[channel][oneshot]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::oneshot::channel<int>();
        auto h = weft::spawn([tx = std::move(tx)] { weft::sleep_for(10ms); });
        try {
            rx.recv();
        } catch (const weft::channel_closed& e) {
            h.join();
            return e.code() == weft::error::channel_closed;
        }
        return false;
    });
    CHECK(r);
    auto [tx, rx] = weft::oneshot::channel<int>();
    CHECK_FALSE(rx.try_recv().has_value());
    { auto gone = std::move(tx); }
    CHECK_THROWS_AS(rx.try_recv(), weft::channel_closed);
}

TEST_CASE("oneshot: send to a dropped receiver returns false", "[channel][oneshot]") {
    lifetime_counter::alive = 0;
    {
        auto [tx, rx] = weft::oneshot::channel<lifetime_counter>();
        { auto gone = std::move(rx); }
        CHECK(tx.is_closed());
        CHECK_FALSE(tx.send(lifetime_counter{}));
        CHECK_THROWS_AS(tx.send(lifetime_counter{}), std::logic_error);  // used up
    }
    CHECK(lifetime_counter::alive.load() == 0);
    {
        auto [tx, rx] = weft::oneshot::channel<lifetime_counter>();
        CHECK(tx.send(lifetime_counter{}));
        CHECK(lifetime_counter::alive.load() == 1);
    }  // receiver dropped with the value unreceived: destroyed
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("oneshot: try_recv", "[channel][oneshot]") {
    auto [tx, rx] = weft::oneshot::channel<std::unique_ptr<int>>();
    CHECK_FALSE(rx.try_recv().has_value());
    tx.send(std::make_unique<int>(5));
    auto v = rx.try_recv();
    REQUIRE(v.has_value());
    CHECK(**v == 5);
}

TEST_CASE("oneshot: a plain thread blocks in recv", "[channel][oneshot]") {
    auto [tx, rx] = weft::oneshot::channel<int>();
    std::thread t([tx = std::move(tx)]() mutable {
        std::this_thread::sleep_for(5ms);
        tx.send(3);
    });
    CHECK(rx.recv() == 3);
    t.join();
}

TEST_CASE("oneshot: a value handed to an aborted recv goes back, or is returned if that throws",
          "[channel][oneshot][abort]") {
    // One worker: the sender's task hands the value over and aborts the receiver before the
    // receiver runs again, so the receiver always sees a grant and an abort together.
    auto rt = weft::test::make_runtime(1);
    for (bool throwing : {false, true}) {
        auto r = rt.block_on([throwing] {
            auto [tx, rx] = weft::oneshot::channel<weft::test::move_bomb>();
            auto h = weft::spawn([&rx] { return rx.recv().v; });
            weft::test::settle();  // h is parked in recv
            int joined = weft::test::hand_over_then_abort(
                [&tx](weft::test::move_bomb b) { tx.send(std::move(b)); }, h, throwing);
            int left = -1;
            try {
                if (auto v = rx.try_recv()) left = v->v;
            } catch (const weft::channel_closed&) {  // the task took it
            }
            return std::make_pair(joined, left);
        });
        if (throwing) {
            CHECK(r == std::make_pair(7, -1));  // returned by the aborted recv, not lost
        } else {
            CHECK(r == std::make_pair(-1, 7));  // back in the channel, the recv threw
        }
    }
}

TEST_CASE("oneshot: abort while parked in recv keeps the value for a later recv",
          "[channel][oneshot][abort]") {
    auto rt = weft::test::make_runtime();
    const int rounds = static_cast<int>(weft::test::scaled(300));
    int ok = rt.block_on([&] {
        int good = 0;
        for (int i = 0; i < rounds; ++i) {
            auto [tx, rx] = weft::oneshot::channel<int>();
            auto h = weft::spawn([&rx] { return rx.recv(); });
            for (int k = 0; k < i % 3; ++k) weft::yield_now();
            auto s = weft::spawn([tx = std::move(tx), i]() mutable { tx.send(i); });
            if (i % 2) weft::yield_now();
            h.abort();
            std::optional<int> got;
            try {
                got = h.join();
            } catch (const weft::join_error&) {}
            s.join();
            std::optional<int> left;
            try {
                left = rx.try_recv();
            } catch (const weft::channel_closed&) {  // the task took it
            }
            if ((got.has_value() != left.has_value()) && (got ? *got : *left) == i) ++good;
        }
        return good;
    });
    CHECK(ok == rounds);
}

TEST_CASE("oneshot: async_recv from a callback, an awaitable, use_future and deferred",
          "[channel][oneshot][asio]") {
    asio::io_context ioc;
    {
        auto [tx, rx] = weft::oneshot::channel<int>();
        int got = 0;
        bool done = false;
        rx.async_recv(asio::bind_executor(ioc, [&](boost::system::error_code ec, int v) {
            got = ec ? -1 : v;
            done = true;
        }));
        CHECK(ioc.poll() == 0);
        tx.send(7);
        CHECK(weft::test::run_until(ioc, [&] { return done; }));
        CHECK(got == 7);
    }
    {
        auto rt = weft::test::make_runtime();
        auto [tx, rx] = weft::oneshot::channel<std::string>();
        std::string got;
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> { got = co_await rx.async_recv(asio::use_awaitable); },
            asio::detached);
        rt.spawn([tx = std::move(tx)]() mutable {
              weft::sleep_for(5ms);
              tx.send("from a task");
          }).join();
        CHECK(weft::test::run_until(ioc, [&] { return !got.empty(); }));
        CHECK(got == "from a task");
    }
    {
        auto [tx, rx] = weft::oneshot::channel<int>();
        auto f = rx.async_recv(asio::use_future);
        tx.send(8);
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        CHECK(f.get() == 8);
    }
    {
        auto [tx, rx] = weft::oneshot::channel<int>();
        auto op = rx.async_recv(asio::deferred);
        { auto gone = std::move(tx); }
        std::promise<boost::system::error_code> p;
        std::move(op)([&](boost::system::error_code ec, int) { p.set_value(ec); });
        auto f = p.get_future();
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        CHECK(f.get() == weft::error::channel_closed);
    }
}

TEST_CASE("oneshot: cancelling async_recv leaves the value for later", "[channel][oneshot][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::oneshot::channel<int>();
    asio::cancellation_signal sig;
    boost::system::error_code ec;
    bool done = false;
    rx.async_recv(asio::bind_cancellation_slot(
        sig.slot(), asio::bind_executor(ioc, [&](boost::system::error_code e, int) {
            ec = e;
            done = true;
        })));
    ioc.poll();
    sig.emit(asio::cancellation_type::partial);
    CHECK(weft::test::run_until(ioc, [&] { return done; }));
    CHECK(ec == asio::error::operation_aborted);
    tx.send(4);
    CHECK(rx.recv() == 4);
}
