// weft::watch: what Tokio's tests/sync_watch.rs checks, plus cancel-safety and Asio forms.
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

#include <atomic>
#include <future>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST_CASE("watch: the initial value counts as seen; send makes it changed", "[channel][watch]") {
    auto [tx, rx] = weft::watch::channel<std::string>("one");
    CHECK(*rx.borrow() == "one");
    CHECK_FALSE(rx.has_changed());
    tx.send("two");
    CHECK(rx.has_changed());
    CHECK(*rx.borrow() == "two");
    CHECK(rx.has_changed());  // borrow() marks nothing
    CHECK(rx.borrow_and_update()->size() == 3);
    CHECK_FALSE(rx.has_changed());
    tx.send("three");
    rx.changed();  // returns at once and marks it seen
    CHECK_FALSE(rx.has_changed());
    CHECK(*rx.borrow() == "three");
}

TEST_CASE("watch: changed waits for a send from another task", "[channel][watch]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::watch::channel<int>(0);
        std::atomic<int> step{0};
        auto h = weft::spawn([rx = rx, &step]() mutable {
            std::vector<int> seen;
            rx.changed();
            seen.push_back(*rx.borrow_and_update());
            step = 1;
            rx.changed();
            seen.push_back(*rx.borrow_and_update());
            return seen;
        });
        weft::test::settle();
        tx.send(1);
        weft::test::eventually([&] { return step.load() == 1; });
        weft::test::settle();
        tx.send(2);
        return h.join();
    });
    CHECK(r == std::vector<int>{1, 2});
}

TEST_CASE("watch: receivers see only the latest value", "[channel][watch]") {
    auto [tx, rx] = weft::watch::channel<int>(0);
    for (int i = 1; i <= 5; ++i) tx.send(i);
    rx.changed();
    CHECK(*rx.borrow_and_update() == 5);
    CHECK_FALSE(rx.has_changed());
}

TEST_CASE("watch: sending without receivers still stores the value", "[channel][watch]") {
    auto [tx, rx] = weft::watch::channel<int>(1);
    { auto gone = std::move(rx); }
    CHECK(tx.receiver_count() == 0);
    CHECK(tx.is_closed());
    tx.send(2);
    CHECK(*tx.borrow() == 2);
    auto rx2 = tx.subscribe();
    CHECK(*rx2.borrow() == 2);
    CHECK_FALSE(rx2.has_changed());  // the value current at subscribe counts as seen
    CHECK(tx.receiver_count() == 1);
    auto rx3 = rx2;
    CHECK(tx.receiver_count() == 2);
}

TEST_CASE("watch: send_modify, send_if_modified, send_replace", "[channel][watch]") {
    auto [tx, rx] = weft::watch::channel<std::vector<int>>({});
    tx.send_modify([](std::vector<int>& v) { v.push_back(1); });
    CHECK(rx.has_changed());
    CHECK(rx.borrow_and_update()->size() == 1);
    CHECK_FALSE(tx.send_if_modified([](std::vector<int>&) { return false; }));
    CHECK_FALSE(rx.has_changed());
    CHECK(tx.send_if_modified([](std::vector<int>& v) {
        v.push_back(2);
        return true;
    }));
    CHECK(rx.has_changed());
    auto old = tx.send_replace({7});
    CHECK(old == std::vector<int>{1, 2});
    CHECK(*rx.borrow_and_update() == std::vector<int>{7});
}

TEST_CASE("watch: after the sender goes, the last value is seen, then channel_closed",
          "[channel][watch]") {
    auto [tx, rx] = weft::watch::channel<int>(0);
    tx.send(1);
    { auto gone = std::move(tx); }
    CHECK(rx.has_changed());
    rx.changed();  // the final value is still reported
    CHECK(*rx.borrow() == 1);
    CHECK_THROWS_AS(rx.changed(), weft::channel_closed);
    CHECK_THROWS_AS(rx.has_changed(), weft::channel_closed);
}

TEST_CASE("watch: a parked changed() sees the sender go", "[channel][watch]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::watch::channel<int>(0);
        auto h = weft::spawn([rx = std::move(rx)]() mutable {
            try {
                rx.changed();
            } catch (const weft::channel_closed&) {
                return true;
            }
            return false;
        });
        weft::test::settle();
        { auto gone = std::move(tx); }
        return h.join();
    });
    CHECK(r);
}

TEST_CASE("watch: many waiters are all woken by one send", "[channel][watch]") {
    auto rt = weft::test::make_runtime();
    const int n = 100;  // more than one wake batch
    int woken = rt.block_on([&] {
        auto [tx, rx] = weft::watch::channel<int>(0);
        std::vector<weft::join_handle<int>> hs;
        for (int i = 0; i < n; ++i) {
            hs.push_back(weft::spawn([rx = rx]() mutable {
                rx.changed();
                return *rx.borrow();
            }));
        }
        weft::test::settle();
        tx.send(9);
        int ok = 0;
        for (auto& h : hs) ok += h.join() == 9 ? 1 : 0;
        return ok;
    });
    CHECK(woken == n);
}

TEST_CASE("watch: abort while parked in changed marks nothing", "[channel][watch][abort]") {
    auto rt = weft::test::make_runtime();
    const int rounds = static_cast<int>(weft::test::scaled(200));
    int ok = rt.block_on([&] {
        int good = 0;
        for (int i = 0; i < rounds; ++i) {
            auto [tx, rx] = weft::watch::channel<int>(0);
            auto h = weft::spawn([&rx] { rx.changed(); });
            for (int k = 0; k < i % 3; ++k) weft::yield_now();
            tx.send(1);
            if (i % 2) weft::yield_now();
            h.abort();
            bool completed = true;
            try {
                h.join();
            } catch (const weft::join_error&) {
                completed = false;
            }
            // Either changed() returned (and marked the value seen) or nothing was marked.
            if (completed != rx.has_changed()) ++good;
        }
        return good;
    });
    CHECK(ok == rounds);
}

TEST_CASE("watch: async_changed forms and cancellation", "[channel][watch][asio]") {
    asio::io_context ioc;
    auto [tx, rx] = weft::watch::channel<int>(0);
    {
        bool done = false;
        boost::system::error_code ec = asio::error::eof;
        rx.async_changed(asio::bind_executor(ioc, [&](boost::system::error_code e) {
            ec = e;
            done = true;
        }));
        CHECK(ioc.poll() == 0);
        tx.send(1);
        CHECK(weft::test::run_until(ioc, [&] { return done; }));
        CHECK(!ec);
        CHECK_FALSE(rx.has_changed());  // marked seen by the completion
    }
    {
        auto f = rx.async_changed(asio::use_future);
        tx.send(2);
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        f.get();
        tx.send(3);
        auto op = rx.async_changed(asio::deferred);
        std::promise<boost::system::error_code> p;
        std::move(op)([&](boost::system::error_code e) { p.set_value(e); });
        auto pf = p.get_future();
        REQUIRE(pf.wait_for(5s) == std::future_status::ready);
        CHECK(!pf.get());
        CHECK(*rx.borrow() == 3);
    }
    {
        asio::cancellation_signal sig;
        boost::system::error_code ec;
        bool done = false;
        rx.async_changed(asio::bind_cancellation_slot(
            sig.slot(), asio::bind_executor(ioc, [&](boost::system::error_code e) {
                ec = e;
                done = true;
            })));
        ioc.restart();
        ioc.poll();
        sig.emit(asio::cancellation_type::terminal);
        CHECK(weft::test::run_until(ioc, [&] { return done; }));
        CHECK(ec == asio::error::operation_aborted);
    }
    {
        auto rt = weft::test::make_runtime();
        std::vector<int> got;
        bool closed = false;
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                for (;;) {
                    try {
                        co_await rx.async_changed(asio::use_awaitable);
                    } catch (const boost::system::system_error& e) {
                        closed = e.code() == weft::error::channel_closed;
                        co_return;
                    }
                    got.push_back(*rx.borrow_and_update());
                }
            },
            asio::detached);
        ioc.restart();
        ioc.poll();
        rt.spawn([tx = std::move(tx)]() mutable { tx.send(4); }).join();
        CHECK(weft::test::run_until(ioc, [&] { return closed; }));
        CHECK(got == std::vector<int>{4});
    }
}
