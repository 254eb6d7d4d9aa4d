// weft::mpsc Asio forms: callbacks, asio::awaitable, use_future, deferred, cancellation.
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
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST_CASE("mpsc: async_recv and async_send from plain callbacks", "[channel][mpsc][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    int got = -1;
    boost::system::error_code rec, sec1, sec2;
    std::optional<int> back1{-1}, back2{-1};
    bool recv_done = false, send1_done = false, send2_done = false;
    rx.async_recv(asio::bind_executor(ioc, [&](boost::system::error_code ec, int v) {
        rec = ec;
        got = v;
        recv_done = true;
    }));
    CHECK(ioc.poll() == 0);  // pending; never completed inline
    CHECK_FALSE(recv_done);
    tx.async_send(7,
                  asio::bind_executor(ioc, [&](boost::system::error_code ec, std::optional<int> b) {
                      sec1 = ec;
                      back1 = b;
                      send1_done = true;
                  }));
    CHECK(weft::test::run_until(ioc, [&] { return recv_done && send1_done; }));
    CHECK(!rec);
    CHECK(got == 7);
    CHECK(!sec1);
    CHECK_FALSE(back1.has_value());
    // A send that must wait for room, then fails when the receiver goes.
    tx.send(1);
    tx.async_send(8,
                  asio::bind_executor(ioc, [&](boost::system::error_code ec, std::optional<int> b) {
                      sec2 = ec;
                      back2 = b;
                      send2_done = true;
                  }));
    ioc.restart();
    ioc.poll();
    CHECK_FALSE(send2_done);
    { auto gone = std::move(rx); }
    CHECK(weft::test::run_until(ioc, [&] { return send2_done; }));
    CHECK(sec2 == weft::error::channel_closed);
    CHECK(back2 == 8);
}

TEST_CASE("mpsc: async_recv reports channel_closed once senders are gone",
          "[channel][mpsc][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<std::string>(1);
    boost::system::error_code ec;
    bool done = false;
    rx.async_recv(asio::bind_executor(ioc, [&](boost::system::error_code e, std::string) {
        ec = e;
        done = true;
    }));
    { auto drop = std::move(tx); }
    CHECK(weft::test::run_until(ioc, [&] { return done; }));
    CHECK(ec == weft::error::channel_closed);
}

TEST_CASE("mpsc: async_recv from an asio::awaitable, fed by a weft task", "[channel][mpsc][asio]") {
    auto rt = weft::test::make_runtime();
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(4);
    long sum = 0;
    bool finished = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            for (;;) {
                auto [ec, v] = co_await rx.async_recv(asio::as_tuple(asio::use_awaitable));
                if (ec) break;
                sum += v;
            }
            finished = true;
        },
        asio::detached);
    auto h = rt.spawn([tx = std::move(tx)] {
        for (int i = 1; i <= 1000; ++i) tx.send(i);
    });
    CHECK(weft::test::run_until(ioc, [&] { return finished; }));
    h.join();
    CHECK(sum == 500500);
}

TEST_CASE("mpsc: async_send from an asio::awaitable waits for room", "[channel][mpsc][asio]") {
    auto rt = weft::test::make_runtime();
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    bool finished = false;
    asio::co_spawn(
        ioc,
        [&, tx = tx]() -> asio::awaitable<void> {
            for (int i = 0; i < 200; ++i) co_await tx.async_send(i, asio::use_awaitable);
            finished = true;
        },
        asio::detached);
    { auto drop = std::move(tx); }
    auto h = rt.spawn([rx = std::move(rx)]() mutable {
        long s = 0;
        while (auto v = rx.recv()) s += *v;
        return s;
    });
    CHECK(weft::test::run_until(ioc, [&] { return finished; }));
    ioc.run_for(10ms);  // let the coroutine frame (and its sender) go
    CHECK(h.join() == 19900);
}

TEST_CASE("mpsc: async forms with use_future and deferred", "[channel][mpsc][asio]") {
    auto rt = weft::test::make_runtime();
    auto [tx, rx] = weft::mpsc::channel<int>(2);
    auto f = rx.async_recv(asio::use_future);
    auto fs = tx.async_send(41, asio::use_future);
    REQUIRE(fs.wait_for(5s) == std::future_status::ready);
    CHECK_FALSE(fs.get().has_value());
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get() == 41);

    auto op = rx.async_recv(asio::deferred);  // nothing happens until launched
    tx.send(42);
    std::promise<int> p;
    std::move(op)([&](boost::system::error_code, int v) { p.set_value(v); });
    auto pf = p.get_future();
    REQUIRE(pf.wait_for(5s) == std::future_status::ready);
    CHECK(pf.get() == 42);

    { auto drop = std::move(tx); }
    // The error through a callback, not use_future: an exception_ptr crossing threads inside
    // libstdc++ is invisible to TSan and would be reported as a race.
    std::promise<boost::system::error_code> closed;
    rx.async_recv([&](boost::system::error_code ec, int) { closed.set_value(ec); });
    auto cf = closed.get_future();
    REQUIRE(cf.wait_for(5s) == std::future_status::ready);
    CHECK(cf.get() == weft::error::channel_closed);
}

TEST_CASE("mpsc: cancelling async_recv completes with operation_aborted, consumes nothing",
          "[channel][mpsc][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                      asio::cancellation_type::total}) {
        asio::cancellation_signal sig;
        boost::system::error_code ec;
        bool done = false;
        rx.async_recv(asio::bind_cancellation_slot(
            sig.slot(), asio::bind_executor(ioc, [&](boost::system::error_code e, int) {
                ec = e;
                done = true;
            })));
        ioc.restart();
        ioc.poll();
        CHECK_FALSE(done);
        sig.emit(type);
        CHECK(weft::test::run_until(ioc, [&] { return done; }));
        CHECK(ec == asio::error::operation_aborted);
    }
    tx.send(5);
    CHECK(rx.try_recv() == 5);  // nothing consumed; the receiver still works
}

TEST_CASE("mpsc: cancelling a parked async_send gives the value back", "[channel][mpsc][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    tx.send(1);
    asio::cancellation_signal sig;
    boost::system::error_code ec;
    std::optional<int> back;
    bool done = false;
    tx.async_send(2, asio::bind_cancellation_slot(
                         sig.slot(), asio::bind_executor(ioc, [&](boost::system::error_code e,
                                                                  std::optional<int> b) {
                             ec = e;
                             back = b;
                             done = true;
                         })));
    ioc.poll();
    CHECK_FALSE(done);
    sig.emit(asio::cancellation_type::terminal);
    CHECK(weft::test::run_until(ioc, [&] { return done; }));
    CHECK(ec == asio::error::operation_aborted);
    CHECK(back == 2);
    CHECK(rx.try_recv() == 1);
    CHECK_FALSE(rx.try_recv().has_value());  // 2 was not sent
}

TEST_CASE("mpsc: an awaitable's recv cancelled by a timer race (operator||)",
          "[channel][mpsc][asio]") {
    using namespace asio::experimental::awaitable_operators;
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    int outcome = -1;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer t(ioc, 10ms);
            auto r =
                co_await (rx.async_recv(asio::use_awaitable) || t.async_wait(asio::use_awaitable));
            outcome = static_cast<int>(r.index());
        },
        asio::detached);
    CHECK(weft::test::run_until(ioc, [&] { return outcome != -1; }));
    CHECK(outcome == 1);  // the timer won; the recv was cancelled
    tx.send(9);
    CHECK(rx.try_recv() == 9);
}

TEST_CASE("mpsc: async_closed completes when the receiver goes", "[channel][mpsc][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    bool done = false;
    boost::system::error_code ec = asio::error::eof;
    tx.async_closed(asio::bind_executor(ioc, [&](boost::system::error_code e) {
        ec = e;
        done = true;
    }));
    ioc.poll();
    CHECK_FALSE(done);
    rx.close();
    CHECK(weft::test::run_until(ioc, [&] { return done; }));
    CHECK(!ec);
}

TEST_CASE("mpsc: destroying the receiver aborts its pending async_recv", "[channel][mpsc][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    boost::system::error_code ec;
    bool done = false;
    rx.async_recv(asio::bind_executor(ioc, [&](boost::system::error_code e, int) {
        ec = e;
        done = true;
    }));
    { auto gone = std::move(rx); }
    CHECK(weft::test::run_until(ioc, [&] { return done; }));
    CHECK(ec == asio::error::operation_aborted);
}

TEST_CASE("mpsc: async_recv_many", "[channel][mpsc][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<int>(8);
    for (int i = 0; i < 5; ++i) tx.send(i);
    std::vector<std::vector<int>> got;
    std::vector<boost::system::error_code> ecs;
    auto record = asio::bind_executor(ioc, [&](boost::system::error_code ec, std::vector<int> v) {
        ecs.push_back(ec);
        got.push_back(std::move(v));
    });
    rx.async_recv_many(3, record);
    CHECK(weft::test::run_until(ioc, [&] { return got.size() == 1; }));
    rx.async_recv_many(10, record);
    CHECK(weft::test::run_until(ioc, [&] { return got.size() == 2; }));
    rx.async_recv_many(10, record);  // waits
    ioc.restart();
    ioc.poll();
    CHECK(got.size() == 2);
    tx.send(7);
    CHECK(weft::test::run_until(ioc, [&] { return got.size() == 3; }));
    { auto drop = std::move(tx); }
    rx.async_recv_many(10, record);
    CHECK(weft::test::run_until(ioc, [&] { return got.size() == 4; }));
    REQUIRE(got.size() == 4);
    CHECK(got[0] == std::vector<int>{0, 1, 2});
    CHECK(got[1] == std::vector<int>{3, 4});
    CHECK(got[2] == std::vector<int>{7});
    CHECK(got[3].empty());
    CHECK(ecs[3] == weft::error::channel_closed);
}
