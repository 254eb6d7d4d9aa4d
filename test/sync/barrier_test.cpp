// weft::barrier: one leader per generation, generations kept apart, abort, Asio.
#include "sync_support.hpp"

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
#include <memory>
#include <thread>
#include <vector>

using namespace sync_test;
using boost::system::error_code;

TEST_CASE("barrier: exactly one leader per generation over many generations", "[sync][barrier]") {
    auto rt = weft::test::make_runtime();
    const int n = 8;
    const int generations = static_cast<int>(weft::test::scaled(500));
    std::vector<std::atomic<int>> leaders(generations);
    std::vector<std::atomic<int>> arrived(generations);
    std::atomic<int> ran_ahead{0};
    rt.block_on([&] {
        weft::barrier b(n);
        std::vector<weft::join_handle<void>> hs;
        for (int t = 0; t < n; ++t) {
            hs.push_back(weft::spawn([&] {
                for (int g = 0; g < generations; ++g) {
                    arrived[g].fetch_add(1);
                    if (b.wait()) leaders[g].fetch_add(1);
                    // Nobody leaves generation g before all n arrived in it.
                    if (arrived[g].load() != n) ran_ahead.fetch_add(1);
                }
            }));
        }
        for (auto& h : hs) h.join();
    });
    int wrong = 0;
    for (auto& l : leaders) wrong += l.load() != 1;
    CHECK(wrong == 0);
    CHECK(ran_ahead.load() == 0);
}

TEST_CASE("barrier: tasks and plain threads meet", "[sync][barrier]") {
    auto rt = weft::test::make_runtime();
    weft::barrier b(4);
    std::atomic<int> leaders{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&] {
            for (int g = 0; g < 50; ++g) leaders += b.wait();
        });
    }
    rt.block_on([&] {
        auto a = weft::spawn([&] {
            for (int g = 0; g < 50; ++g) leaders += b.wait();
        });
        auto c = weft::spawn([&] {
            for (int g = 0; g < 50; ++g) leaders += b.wait();
        });
        a.join();
        c.join();
    });
    for (auto& t : threads) t.join();
    CHECK(leaders.load() == 50);
}

TEST_CASE("barrier: a barrier of 1 (or 0) always leads", "[sync][barrier]") {
    weft::barrier one(1);
    weft::barrier zero(0);
    CHECK(one.wait());
    CHECK(one.wait());
    CHECK(zero.wait());
    CHECK(zero.size() == 1);
}

TEST_CASE("barrier: abort while waiting keeps the arrival counted (not cancel-safe)",
          "[sync][barrier][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::barrier b(3);
        auto a = weft::spawn([&] { b.wait(); });
        let_others_park();
        a.abort();
        bool cancelled = false;
        try {
            a.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        bool second_leads = false;
        auto c = weft::spawn([&] { second_leads = b.wait(); });
        let_others_park();
        bool third_leads = b.wait();  // a's arrival still counts: this completes the generation
        c.join();
        return std::make_tuple(cancelled, second_leads, third_leads);
    });
    CHECK(std::get<0>(r));
    CHECK_FALSE(std::get<1>(r));
    CHECK(std::get<2>(r));
}

TEST_CASE("barrier: an aborted task does not arrive", "[sync][barrier][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto lead = rt.block_on([] {
        weft::barrier b(2);
        auto a = weft::spawn([&] {
            try {
                weft::sleep_for(1h);
            } catch (const weft::task_cancelled&) {}
            b.wait();  // aborted: throws before arriving
        });
        let_others_park();
        a.abort();
        try {
            a.join();
        } catch (const weft::join_error&) {}
        auto c = weft::spawn([&] { return b.wait(); });
        let_others_park();
        bool this_leads = b.wait();
        bool c_leads = c.join();
        return std::make_pair(this_leads, c_leads);
    });
    CHECK(lead.first);
    CHECK_FALSE(lead.second);
}

// ---- Asio forms ---------------------------------------------------------------------------

TEST_CASE("barrier: async_wait from callbacks, an awaitable, use_future and deferred",
          "[sync][barrier][asio]") {
    asio::io_context ioc;
    weft::barrier b(4);
    int leaders = 0;
    int done = 0;
    auto cb = asio::bind_executor(ioc, [&](error_code ec, bool leader) {
        if (!ec) {
            leaders += leader;
            ++done;
        }
    });
    b.async_wait(cb);
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            bool leader = co_await b.async_wait(asio::use_awaitable);
            leaders += leader;
            ++done;
        },
        asio::detached);
    ioc.poll();
    auto op = b.async_wait(asio::deferred);
    std::move(op)(cb);
    CHECK(done == 0);
    std::future<bool> f = b.async_wait(asio::use_future);  // the 4th: leader
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get());
    REQUIRE(run_until(ioc, [&] { return done == 3; }));
    CHECK(leaders == 0);
}

TEST_CASE("barrier: async_wait cancelled through its slot", "[sync][barrier][asio][abort]") {
    asio::io_context ioc;
    weft::barrier b(2);
    asio::cancellation_signal sig;
    int outcome = 0;
    b.async_wait(
        asio::bind_cancellation_slot(sig.slot(), asio::bind_executor(ioc, [&](error_code ec, bool) {
                                         outcome = ec == asio::error::operation_aborted ? 1 : 2;
                                     })));
    ioc.poll();
    sig.emit(asio::cancellation_type::terminal);
    REQUIRE(run_until(ioc, [&] { return outcome != 0; }));
    CHECK(outcome == 1);
    CHECK(b.wait());  // the cancelled arrival still counts: this one completes the generation
}
