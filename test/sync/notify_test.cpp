// weft::notify: the stored permit, notify_waiters vs enroll, cancel-safety, Asio.
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

TEST_CASE("notify: notify_one with nobody waiting stores one permit", "[sync][notify]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::notify n;
        n.notify_one();
        n.notify_one();  // merges with the first: at most one permit
        n.notified();    // consumes it at once
        bool second_done = false;
        auto h = weft::spawn([&] {
            n.notified();
            second_done = true;
        });
        let_others_park();
        bool waited = !second_done;
        n.notify_one();
        h.join();
        return std::make_pair(waited, second_done);
    });
    CHECK(r.first);
    CHECK(r.second);
}

TEST_CASE("notify: notify_one wakes waiters in FIFO order", "[sync][notify]") {
    auto rt = weft::builder::current_thread().build();
    auto order = rt.block_on([] {
        weft::notify n;
        std::vector<int> order;
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 5; ++i) {
            hs.push_back(weft::spawn([&, i] {
                n.notified();
                order.push_back(i);
            }));
            let_others_park();
        }
        for (int i = 0; i < 5; ++i) {
            n.notify_one();
            let_others_park();
        }
        for (auto& h : hs) h.join();
        return order;
    });
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("notify: notify_waiters wakes every waiter and stores nothing", "[sync][notify]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::notify n;
        std::atomic<int> parked{0};
        std::atomic<int> woken{0};
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 100; ++i) {  // more than one wake batch
            hs.push_back(weft::spawn([&] {
                auto w = n.enroll();
                parked.fetch_add(1);
                w.wait();
                woken.fetch_add(1);
            }));
        }
        while (parked.load() < 100) weft::sleep_for(1ms);
        n.notify_waiters();
        for (auto& h : hs) h.join();
        // Nothing was stored: a new waiter waits.
        std::atomic<bool> late_done{false};
        auto late = weft::spawn([&] {
            n.notified();
            late_done = true;
        });
        weft::sleep_for(10ms);
        bool late_waited = !late_done;
        n.notify_one();
        late.join();
        return std::make_pair(woken.load(), late_waited);
    });
    CHECK(r.first == 100);
    CHECK(r.second);
}

TEST_CASE("notify: notify_waiters keeps a stored permit", "[sync][notify]") {
    weft::notify n;
    n.notify_one();
    n.notify_waiters();
    n.notified();  // the permit is still there: returns at once on this plain thread
    SUCCEED();
}

TEST_CASE("notify: enroll sees a notify_waiters issued before wait", "[sync][notify]") {
    weft::notify n;
    auto w = n.enroll();
    n.notify_waiters();
    w.wait();  // returns at once (plain thread, no runtime)
    auto w2 = n.enroll();
    auto moved = std::move(w2);
    CHECK_THROWS_AS(w2.wait(), std::logic_error);
    n.notify_waiters();
    moved.wait();
    CHECK_THROWS_AS(moved.wait(), std::logic_error);  // single use
}

TEST_CASE("notify: check-then-wait with enroll loses nothing", "[sync][notify][stress]") {
    auto rt = weft::test::make_runtime();
    const int rounds = static_cast<int>(weft::test::scaled(2000));
    auto seen = rt.block_on([rounds] {
        weft::notify n;
        std::atomic<int> generation{0};
        std::atomic<int> total{0};
        std::vector<weft::join_handle<void>> hs;
        for (int c = 0; c < 4; ++c) {
            hs.push_back(weft::spawn([&] {
                for (int g = 1; g <= rounds; ++g) {
                    for (;;) {
                        auto w = n.enroll();
                        if (generation.load() >= g) break;
                        w.wait();
                    }
                    total.fetch_add(1);
                }
            }));
        }
        for (int g = 1; g <= rounds; ++g) {
            generation.store(g);
            n.notify_waiters();
            if (g % 16 == 0) weft::yield_now();
        }
        for (auto& h : hs) h.join();
        return total.load();
    });
    CHECK(seen == 4 * rounds);
}

TEST_CASE("notify: abort while parked consumes nothing", "[sync][notify][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::notify n;
        auto h = weft::spawn([&] { n.notified(); });
        let_others_park();
        h.abort();
        bool cancelled = false;
        try {
            h.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        n.notify_one();  // nobody waits now: stored
        bool stored = false;
        auto probe = weft::spawn([&] {
            n.notified();
            stored = true;
        });
        let_others_park();
        probe.abort();
        try {
            probe.join();
        } catch (const weft::join_error&) {}
        return std::make_pair(cancelled, stored);
    });
    CHECK(r.first);
    CHECK(r.second);
}

TEST_CASE("notify: a timeout around notified() consumes nothing", "[sync][notify][abort]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::notify n;
        bool elapsed = false;
        try {
            weft::timeout(10ms, [&] { n.notified(); });
        } catch (const weft::elapsed&) {
            elapsed = true;
        }
        n.notify_one();  // nobody waits any more: stored
        bool got = false;
        weft::timeout(1s, [&] {
            n.notified();
            got = true;
        });
        return std::make_pair(elapsed, got);
    });
    CHECK(r.first);
    CHECK(r.second);
}

TEST_CASE("notify: notify_one to a waiter being aborted passes to the next",
          "[sync][notify][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::notify n;
        bool a_done = false;
        bool b_done = false;
        auto a = weft::spawn([&] {
            n.notified();
            a_done = true;
        });
        let_others_park();
        auto b = weft::spawn([&] {
            n.notified();
            b_done = true;
        });
        let_others_park();
        a.abort();       // woken, not run yet: still first
        n.notify_one();  // chooses a, which forwards it to b
        bool a_cancelled = false;
        try {
            a.join();
        } catch (const weft::join_error& e) {
            a_cancelled = e.is_cancelled();
        }
        b.join();
        return std::make_tuple(a_cancelled, a_done, b_done);
    });
    CHECK(std::get<0>(r));
    CHECK_FALSE(std::get<1>(r));
    CHECK(std::get<2>(r));
}

TEST_CASE("notify: a notify_one given to the only waiter being aborted is stored",
          "[sync][notify][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto stored = rt.block_on([] {
        weft::notify n;
        auto a = weft::spawn([&] { n.notified(); });
        let_others_park();
        a.abort();
        n.notify_one();
        try {
            a.join();
        } catch (const weft::join_error&) {}
        bool got = false;
        auto b = weft::spawn([&] {
            n.notified();
            got = true;
        });
        let_others_park();
        if (!got) {
            b.abort();
            try {
                b.join();
            } catch (const weft::join_error&) {}
        } else {
            b.join();
        }
        return got;
    });
    CHECK(stored);
}

TEST_CASE("notify: abort storm with notify_one loses no notification", "[sync][notify][abort]") {
    auto rt = weft::test::make_runtime();
    const int waiters = 2 * static_cast<int>(weft::test::scaled(250));
    auto r = rt.block_on([waiters] {
        weft::notify n;
        std::atomic<int> ready{0};
        std::atomic<int> woken{0};
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < waiters; ++i) {
            hs.push_back(weft::spawn([&] {
                ready.fetch_add(1);
                n.notified();
                woken.fetch_add(1);
            }));
        }
        while (ready.load() < waiters) weft::sleep_for(1ms);
        weft::sleep_for(20ms);  // let the last ones park
        // Abort every other waiter while notifying: each notify_one wakes exactly one task
        // (an aborted waiter it reached forwards it), so waiters/2 notifications wake
        // exactly waiters/2 tasks.
        for (int i = 0; i < waiters; i += 2) {
            hs[i].abort();
            n.notify_one();
        }
        for (int k = 0; k < 5000 && woken.load() < waiters / 2; ++k) weft::sleep_for(1ms);
        int woken_by_storm = woken.load();
        n.notify_waiters();  // releases the survivors a notification went past
        int cancelled = 0;
        for (auto& h : hs) {
            try {
                h.join();
            } catch (const weft::join_error& e) {
                cancelled += e.is_cancelled();
            }
        }
        return std::make_tuple(woken_by_storm, woken.load(), cancelled);
    });
    // Each notify_one woke exactly one task (a task notified before its abort counts as
    // woken); everyone else was cancelled.
    CHECK(std::get<0>(r) == waiters / 2);
    CHECK(std::get<1>(r) + std::get<2>(r) == waiters);
}

// ---- Asio forms ---------------------------------------------------------------------------

TEST_CASE("notify: async_notified from a callback, an awaitable, use_future, deferred",
          "[sync][notify][asio]") {
    asio::io_context ioc;
    weft::notify n;
    int got = 0;
    n.async_notified(asio::bind_executor(ioc, [&](error_code ec) { got = ec ? 2 : 1; }));
    ioc.poll();
    CHECK(got == 0);
    n.notify_one();
    REQUIRE(run_until(ioc, [&] { return got != 0; }));
    CHECK(got == 1);

    int done = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            co_await n.async_notified(asio::use_awaitable);
            auto w = n.enroll();
            co_await w.async_wait(asio::use_awaitable);
            ++done;
        },
        asio::detached);
    ioc.poll();
    n.notify_one();
    run_until(
        ioc, [&] { return false; }, std::chrono::milliseconds(20));
    n.notify_waiters();
    REQUIRE(run_until(ioc, [&] { return done == 1; }));

    n.notify_one();
    std::future<void> f = n.async_notified(asio::use_future);
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    f.get();

    bool called = false;
    auto op = n.async_notified(asio::deferred);
    std::move(op)(asio::bind_executor(ioc, [&](error_code ec) { called = !ec; }));
    n.notify_waiters();
    REQUIRE(run_until(ioc, [&] { return called; }));
}

TEST_CASE("notify: async_notified cancelled through its slot consumes nothing",
          "[sync][notify][asio][abort]") {
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                      asio::cancellation_type::total}) {
        asio::io_context ioc;
        weft::notify n;
        asio::cancellation_signal sig;
        int outcome = 0;
        n.async_notified(
            asio::bind_cancellation_slot(sig.slot(), asio::bind_executor(ioc, [&](error_code ec) {
                                             outcome = ec == asio::error::operation_aborted ? 1 : 2;
                                         })));
        ioc.poll();
        sig.emit(type);
        REQUIRE(run_until(ioc, [&] { return outcome != 0; }));
        CHECK(outcome == 1);
        n.notify_one();  // nobody waits: stored, so a plain-thread wait returns at once
        n.notified();
    }
}
