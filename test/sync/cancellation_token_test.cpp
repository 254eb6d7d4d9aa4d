// weft::cancellation_token: cancel / is_cancelled / cancelled(), the parent-child tree, Asio.
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
#include <thread>
#include <vector>

using namespace sync_test;
using boost::system::error_code;

TEST_CASE("cancellation_token: copies share one flag", "[sync][token]") {
    weft::cancellation_token t;
    auto copy = t;
    weft::cancellation_token other;
    CHECK(copy == t);
    CHECK_FALSE(other == t);
    CHECK_FALSE(t.is_cancelled());
    copy.cancel();
    CHECK(t.is_cancelled());
    CHECK_FALSE(other.is_cancelled());
    copy.cancel();  // idempotent
    t.cancelled();  // returns at once (plain thread)
    auto moved = std::move(t);
    CHECK(t.is_cancelled());  // a moved-from token still refers to its token
    CHECK(moved.is_cancelled());
}

TEST_CASE("cancellation_token: cancelled() waits and every waiter wakes", "[sync][token]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::cancellation_token t;
        std::atomic<int> waiting{0};
        std::atomic<int> woke{0};
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 100; ++i) {
            hs.push_back(weft::spawn([&] {
                waiting.fetch_add(1);
                t.cancelled();
                woke.fetch_add(1);
            }));
        }
        while (waiting.load() < 100) weft::sleep_for(1ms);
        weft::sleep_for(5ms);
        int early = woke.load();
        t.cancel();
        for (auto& h : hs) h.join();
        return std::make_pair(early, woke.load());
    });
    CHECK(r.first == 0);
    CHECK(r.second == 100);
}

TEST_CASE("cancellation_token: children are cancelled with their parent, not the reverse",
          "[sync][token]") {
    weft::cancellation_token root;
    auto child = root.child_token();
    auto grandchild = child.child_token();
    auto sibling = root.child_token();
    grandchild.cancel();
    CHECK(grandchild.is_cancelled());
    CHECK_FALSE(child.is_cancelled());
    CHECK_FALSE(root.is_cancelled());
    auto grandchild2 = child.child_token();
    root.cancel();
    CHECK(child.is_cancelled());
    CHECK(sibling.is_cancelled());
    CHECK(grandchild2.is_cancelled());
    auto late = child.child_token();  // from a cancelled parent: cancelled at once
    CHECK(late.is_cancelled());
}

TEST_CASE("cancellation_token: a child's waiters wake when an ancestor is cancelled",
          "[sync][token]") {
    auto rt = weft::test::make_runtime();
    auto woke = rt.block_on([] {
        weft::cancellation_token root;
        std::atomic<int> waiting{0};
        std::vector<weft::join_handle<bool>> hs;
        for (int i = 0; i < 10; ++i) {
            hs.push_back(weft::spawn([&, t = root.child_token().child_token()] {
                waiting.fetch_add(1);
                t.cancelled();
                return t.is_cancelled();
            }));
        }
        while (waiting.load() < 10) weft::sleep_for(1ms);
        root.cancel();
        int n = 0;
        for (auto& h : hs) n += h.join();
        return n;
    });
    CHECK(woke == 10);
}

TEST_CASE("cancellation_token: children created and dropped while the parent cancels",
          "[sync][token][stress]") {
    const int rounds = static_cast<int>(weft::test::scaled(200));
    int consistent = 0;
    for (int r = 0; r < rounds; ++r) {
        weft::cancellation_token root;
        std::atomic<bool> go{false};
        std::atomic<int> bad{0};
        std::thread maker([&] {
            while (!go) {}
            for (int i = 0; i < 50; ++i) {
                bool before = root.is_cancelled();
                auto c = root.child_token();
                auto gc = c.child_token();
                // Created after the cancel was visible: must be cancelled from the start.
                if (before && !gc.is_cancelled()) bad.fetch_add(1);
            }
        });
        auto kept = root.child_token().child_token();
        go = true;
        root.cancel();
        maker.join();
        consistent += kept.is_cancelled() && bad.load() == 0;
    }
    CHECK(consistent == rounds);
}

TEST_CASE("cancellation_token: abort while parked in cancelled()", "[sync][token][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::cancellation_token t;
        auto h = weft::spawn([&] { t.cancelled(); });
        let_others_park();
        h.abort();
        bool cancelled = false;
        try {
            h.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        // The token itself is untouched and still works.
        bool woke = false;
        auto g = weft::spawn([&] {
            t.cancelled();
            woke = true;
        });
        let_others_park();
        t.cancel();
        g.join();
        return std::make_pair(cancelled, woke);
    });
    CHECK(r.first);
    CHECK(r.second);
}

// ---- Asio forms ---------------------------------------------------------------------------

TEST_CASE("cancellation_token: async_cancelled forms", "[sync][token][asio]") {
    asio::io_context ioc;
    weft::cancellation_token t;
    int got = 0;
    t.async_cancelled(asio::bind_executor(ioc, [&](error_code ec) { got = ec ? 2 : 1; }));
    int done = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            co_await t.child_token().async_cancelled(asio::use_awaitable);
            ++done;
        },
        asio::detached);
    bool deferred_called = false;
    auto op = t.async_cancelled(asio::deferred);
    std::move(op)(asio::bind_executor(ioc, [&](error_code ec) { deferred_called = !ec; }));
    std::future<void> f = t.async_cancelled(asio::use_future);
    ioc.poll();
    CHECK(got == 0);
    CHECK(done == 0);
    CHECK(f.wait_for(1ms) == std::future_status::timeout);
    t.cancel();
    REQUIRE(run_until(ioc, [&] { return got != 0 && done == 1 && deferred_called; }));
    CHECK(got == 1);
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    f.get();
    // Already cancelled: completes (posted, not inline).
    bool again = false;
    t.async_cancelled(asio::bind_executor(ioc, [&](error_code ec) { again = !ec; }));
    CHECK_FALSE(again);
    REQUIRE(run_until(ioc, [&] { return again; }));
}

TEST_CASE("cancellation_token: async_cancelled cancelled through its slot",
          "[sync][token][asio][abort]") {
    asio::io_context ioc;
    asio::cancellation_signal sig;
    int outcome = 0;
    {
        weft::cancellation_token t;
        t.async_cancelled(
            asio::bind_cancellation_slot(sig.slot(), asio::bind_executor(ioc, [&](error_code ec) {
                                             outcome = ec == asio::error::operation_aborted ? 1 : 2;
                                         })));
    }  // the pending operation keeps the token's state alive
    ioc.poll();
    sig.emit(asio::cancellation_type::total);
    REQUIRE(run_until(ioc, [&] { return outcome != 0; }));
    CHECK(outcome == 1);
}
