// weft::mutex: exclusion, FIFO hand-off, cancel-safety, budget, and the Asio form.
#include "sync_support.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace sync_test;
using boost::system::error_code;

TEST_CASE("mutex: exclusion with a plain counter on every worker", "[sync][mutex]") {
    auto rt = weft::test::make_runtime();
    const std::size_t tasks = 64;
    const std::size_t iters = weft::test::scaled(2000);
    weft::mutex m;
    std::uint64_t count = 0;  // plain: only m protects it
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (std::size_t t = 0; t < tasks; ++t) {
            hs.push_back(weft::spawn([&, t] {
                for (std::size_t i = 0; i < iters; ++i) {
                    std::lock_guard g(m);
                    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                    ++count;
                    // Sometimes hold the lock across a suspension, so waiters queue up and
                    // the lock is handed off between workers.
                    if ((i + t) % 64 == 0) weft::yield_now();
                    inside.fetch_sub(1);
                }
            }));
        }
        for (auto& h : hs) h.join();
    });
    CHECK(count == tasks * iters);
    CHECK(overlaps.load() == 0);
}

TEST_CASE("mutex: unlock hands off to waiters in FIFO order; no barging", "[sync][mutex]") {
    auto rt = weft::builder::current_thread().build();
    auto order = rt.block_on([] {
        weft::mutex m;
        std::vector<int> order;
        m.lock();
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 8; ++i) {
            hs.push_back(weft::spawn([&, i] {
                std::lock_guard g(m);
                order.push_back(i);
            }));
            let_others_park();
        }
        m.unlock();
        // Relocking at once must queue behind the 8 waiters.
        m.lock();
        order.push_back(100);
        m.unlock();
        for (auto& h : hs) h.join();
        return order;
    });
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 100});
}

TEST_CASE("mutex: try_lock right after a hand-off fails", "[sync][mutex]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::mutex m;
        m.lock();
        bool waiter_got = false;
        auto h = weft::spawn([&] {
            std::lock_guard g(m);
            waiter_got = true;
        });
        let_others_park();
        m.unlock();
        bool after_handoff = m.try_lock();  // the waiter owns it now, though it has not run
        h.join();
        bool after_waiter = m.try_lock();
        if (after_waiter) m.unlock();
        return std::make_tuple(after_handoff, waiter_got, after_waiter);
    });
    CHECK_FALSE(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
}

TEST_CASE("mutex: abort while parked in lock", "[sync][mutex][abort]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::mutex m;
        m.lock();
        std::atomic<bool> got{false};
        std::atomic<bool> started{false};
        auto h = weft::spawn([&] {
            started = true;
            std::lock_guard g(m);
            got = true;
        });
        while (!started) weft::yield_now();
        weft::sleep_for(5ms);
        h.abort();
        bool cancelled = false;
        try {
            h.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        m.unlock();
        bool free_after = m.try_lock();  // nothing left queued: the lock is not stranded
        if (free_after) m.unlock();
        return std::make_tuple(cancelled, got.load(), free_after);
    });
    CHECK(std::get<0>(r));
    CHECK_FALSE(std::get<1>(r));
    CHECK(std::get<2>(r));
}

TEST_CASE("mutex: a lock handed to a waiter being aborted goes to the next waiter",
          "[sync][mutex][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::mutex m;
        bool got_b = false;
        bool got_c = false;
        m.lock();
        auto b = weft::spawn([&] {
            std::lock_guard g(m);
            got_b = true;
        });
        let_others_park();
        auto c = weft::spawn([&] {
            std::lock_guard g(m);
            got_c = true;
        });
        let_others_park();
        b.abort();   // b is woken but has not run yet: still first in the queue
        m.unlock();  // so the lock is handed to b, which must pass it on to c
        bool b_cancelled = false;
        try {
            b.join();
        } catch (const weft::join_error& e) {
            b_cancelled = e.is_cancelled();
        }
        c.join();
        bool free_after = m.try_lock();
        if (free_after) m.unlock();
        return std::make_tuple(b_cancelled, got_b, got_c, free_after);
    });
    CHECK(std::get<0>(r));
    CHECK_FALSE(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r));
}

TEST_CASE("mutex: a newcomer while the lock is handed off waits aside, then gets it",
          "[sync][mutex]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::mutex m;
        std::vector<std::string> log;
        m.lock();
        auto a = weft::spawn([&] {
            std::lock_guard g(m);
            log.push_back("a");
            weft::yield_now();
            weft::yield_now();
            log.push_back("a-out");
        });
        let_others_park();  // a is queued
        m.unlock();         // handed to a, which has not run yet
        bool try_after_handoff = m.try_lock();
        auto b = weft::spawn([&] {
            std::lock_guard g(m);  // finds the lock handed: waits aside until a is done
            log.push_back("b");
        });
        a.join();
        b.join();
        bool free_after = m.try_lock();
        if (free_after) m.unlock();
        return std::make_tuple(try_after_handoff, log, free_after);
    });
    CHECK_FALSE(std::get<0>(r));
    CHECK(std::get<1>(r) == std::vector<std::string>{"a", "a-out", "b"});
    CHECK(std::get<2>(r));
}

TEST_CASE("mutex: abort while waiting aside for a hand-off chain", "[sync][mutex][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::mutex m;
        bool b_got = false;
        m.lock();
        auto a = weft::spawn([&] {
            std::lock_guard g(m);
            weft::yield_now();
            weft::yield_now();
        });
        let_others_park();
        m.unlock();  // handed to a
        auto b = weft::spawn([&] {
            std::lock_guard g(m);
            b_got = true;
        });
        weft::yield_now();  // a runs and yields holding the lock; b waits aside
        b.abort();
        bool cancelled = false;
        try {
            b.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        a.join();
        bool free_after = m.try_lock();
        if (free_after) m.unlock();
        return std::make_tuple(cancelled, b_got, free_after);
    });
    CHECK(std::get<0>(r));
    CHECK_FALSE(std::get<1>(r));
    CHECK(std::get<2>(r));
}

TEST_CASE("mutex: an aborted task's lock() throws at once, even when free",
          "[sync][mutex][abort]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::mutex m;
        std::atomic<bool> started{false};
        auto h = weft::spawn([&] {
            started = true;
            try {
                weft::sleep_for(1h);
            } catch (const weft::task_cancelled&) {}
            try {
                m.lock();
                return 1;
            } catch (const weft::task_cancelled&) {
                return 2;
            }
        });
        while (!started) weft::yield_now();
        h.abort();
        int v = h.join();
        bool free_after = m.try_lock();
        if (free_after) m.unlock();
        return std::make_pair(v, free_after);
    });
    CHECK(r.first == 2);
    CHECK(r.second);
}

TEST_CASE("mutex: a timeout around a parked lock() takes nothing", "[sync][mutex][abort]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::mutex m;
        m.lock();
        bool elapsed = false;
        try {
            weft::timeout(10ms, [&] { m.lock(); });
        } catch (const weft::elapsed&) {
            elapsed = true;
        }
        m.unlock();
        bool free_after = m.try_lock();
        if (free_after) m.unlock();
        // And a timeout that does not fire returns with the lock held.
        weft::timeout(1s, [&] { m.lock(); });
        bool held = !m.try_lock();
        m.unlock();
        return std::make_tuple(elapsed, free_after, held);
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
}

TEST_CASE("mutex: abort storm while the lock circulates loses and duplicates nothing",
          "[sync][mutex][abort]") {
    auto rt = weft::test::make_runtime();
    const std::size_t tasks = 200;
    const std::size_t iters = weft::test::scaled(300);
    weft::mutex m;
    std::uint64_t count = 0;                    // under m
    std::vector<std::uint64_t> mine(tasks, 0);  // each task's own successful increments
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    std::atomic<std::size_t> progress{0};
    auto free_after = rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (std::size_t t = 0; t < tasks; ++t) {
            hs.push_back(weft::spawn([&, t] {
                for (std::size_t i = 0; i < iters; ++i) {
                    std::lock_guard g(m);
                    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                    ++count;
                    ++mine[t];
                    progress.fetch_add(1);
                    struct leave {
                        std::atomic<int>& in;
                        ~leave() { in.fetch_sub(1); }  // also when the yield throws
                    } guard{inside};
                    if (i % 8 == 0) weft::yield_now();
                }
            }));
        }
        while (progress.load() < tasks * iters / 10) weft::sleep_for(100us);
        std::mt19937 rng(7);
        for (std::size_t k = 0; k < tasks / 2; ++k) {
            hs[rng() % tasks].abort();
            if (k % 10 == 0) weft::sleep_for(100us);
        }
        for (auto& h : hs) {
            try {
                h.join();
            } catch (const weft::join_error&) {}
        }
        bool f = m.try_lock();
        if (f) m.unlock();
        return f;
    });
    std::uint64_t sum = 0;
    for (auto v : mine) sum += v;
    CHECK(count == sum);
    CHECK(overlaps.load() == 0);
    CHECK(free_after);
}

TEST_CASE("mutex: plain threads and tasks contend", "[sync][mutex]") {
    auto rt = weft::test::make_runtime();
    weft::mutex m;
    std::uint64_t count = 0;
    const std::size_t iters = weft::test::scaled(5000);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&] {
            for (std::size_t k = 0; k < iters; ++k) {
                std::lock_guard g(m);
                ++count;
            }
        });
    }
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (int t = 0; t < 4; ++t) {
            hs.push_back(weft::spawn([&] {
                for (std::size_t k = 0; k < iters; ++k) {
                    std::lock_guard g(m);
                    ++count;
                }
            }));
        }
        for (auto& h : hs) h.join();
    });
    for (auto& t : threads) t.join();
    CHECK(count == 6 * iters);
}

TEST_CASE("mutex: std::scoped_lock over two weft mutexes in both orders", "[sync][mutex]") {
    auto rt = weft::test::make_runtime();
    weft::mutex a;
    weft::mutex b;
    std::uint64_t count = 0;
    const std::size_t iters = weft::test::scaled(1000);
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (int t = 0; t < 8; ++t) {
            hs.push_back(weft::spawn([&, t] {
                for (std::size_t k = 0; k < iters; ++k) {
                    if (t % 2) {
                        std::scoped_lock g(a, b);
                        ++count;
                    } else {
                        std::scoped_lock g(b, a);
                        ++count;
                    }
                }
            }));
        }
        for (auto& h : hs) h.join();
    });
    CHECK(count == 8 * iters);
}

TEST_CASE("mutex: uncontended locking still yields (cooperative budget)", "[sync][mutex]") {
    auto rt = weft::builder::current_thread().build();
    int n = rt.block_on([] {
        weft::mutex m;
        bool other_ran = false;
        auto h = weft::spawn([&] { other_ran = true; });
        int i = 0;
        while (!other_ran && i < 100000) {
            m.lock();
            m.unlock();
            ++i;
        }
        h.join();
        return i;
    });
    CHECK(n < 1000);
}

TEST_CASE("mutex: lock on a worker outside a task throws logic_error when it would wait",
          "[sync][mutex]") {
    auto rt = weft::test::make_runtime();
    weft::mutex m;
    m.lock();
    std::promise<int> p;
    asio::post(rt.get_executor(), [&] {
        try {
            m.lock();
            p.set_value(1);
        } catch (const std::logic_error&) {
            p.set_value(2);
        }
    });
    auto f = p.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get() == 2);
    m.unlock();
    CHECK(m.try_lock());
    m.unlock();
}

TEST_CASE("mutex: 10k tasks on one mutex", "[sync][mutex][stress]") {
    auto rt = weft::test::make_runtime();
    const std::size_t tasks = weft::test::scaled(10000);
    weft::mutex m;
    std::uint64_t count = 0;
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        hs.reserve(tasks);
        for (std::size_t t = 0; t < tasks; ++t) {
            hs.push_back(weft::spawn([&] {
                for (int k = 0; k < 10; ++k) {
                    std::lock_guard g(m);
                    ++count;
                    if (k == 5) weft::yield_now();
                }
            }));
        }
        for (auto& h : hs) h.join();
    });
    CHECK(count == tasks * 10);
}

// ---- Asio forms ---------------------------------------------------------------------------

TEST_CASE("mutex: async_lock from a callback; never completes inline", "[sync][mutex][asio]") {
    asio::io_context ioc;
    weft::mutex m;
    bool called = false;
    bool owned = false;
    m.async_lock(asio::bind_executor(ioc, [&](error_code ec, std::unique_lock<weft::mutex> lk) {
        called = !ec;
        owned = lk.owns_lock();
    }));
    CHECK_FALSE(called);  // free mutex: still posted, not called inline
    REQUIRE(run_until(ioc, [&] { return called; }));
    CHECK(owned);
    CHECK(m.try_lock());  // the unique_lock released it
    m.unlock();
}

TEST_CASE("mutex: async_lock waits for a task holder; handler without executor",
          "[sync][mutex][asio]") {
    auto rt = weft::test::make_runtime();
    weft::mutex m;
    std::atomic<bool> held{false};
    std::atomic<bool> release{false};
    auto holder = rt.spawn([&] {
        std::lock_guard g(m);
        held = true;
        while (!release) weft::sleep_for(1ms);
    });
    REQUIRE(wait_until([&] { return held.load(); }));
    std::atomic<int> result{0};
    // No associated executor: the handler runs on a weft worker (or the system executor).
    m.async_lock([&](error_code ec, std::unique_lock<weft::mutex> lk) {
        result = (!ec && lk.owns_lock()) ? 1 : 2;
    });
    std::this_thread::sleep_for(5ms);
    CHECK(result.load() == 0);
    release = true;
    REQUIRE(wait_until([&] { return result.load() != 0; }));
    CHECK(result.load() == 1);
    holder.join();
    CHECK(wait_until([&] {
        if (!m.try_lock()) return false;
        m.unlock();
        return true;
    }));
}

TEST_CASE("mutex: async_lock from an asio::awaitable", "[sync][mutex][asio]") {
    asio::io_context ioc;
    weft::mutex m;
    std::uint64_t count = 0;
    int done = 0;
    for (int c = 0; c < 4; ++c) {
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                for (int i = 0; i < 100; ++i) {
                    auto lk = co_await m.async_lock(asio::use_awaitable);
                    ++count;
                }
                ++done;
            },
            asio::detached);
    }
    REQUIRE(run_until(ioc, [&] { return done == 4; }));
    CHECK(count == 400);
}

TEST_CASE("mutex: async_lock with use_future and deferred", "[sync][mutex][asio]") {
    weft::mutex m;
    {
        std::future<std::unique_lock<weft::mutex>> f = m.async_lock(asio::use_future);
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        auto lk = f.get();
        CHECK(lk.owns_lock());
        CHECK_FALSE(m.try_lock());
    }
    CHECK(m.try_lock());
    m.unlock();

    asio::io_context ioc;
    auto op = m.async_lock(asio::deferred);
    bool called = false;
    std::move(op)(asio::bind_executor(ioc, [&](error_code ec, std::unique_lock<weft::mutex> lk) {
        called = !ec && lk.owns_lock();
    }));
    REQUIRE(run_until(ioc, [&] { return called; }));
}

TEST_CASE("mutex: async_lock cancelled through its slot consumes nothing",
          "[sync][mutex][asio][abort]") {
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                      asio::cancellation_type::total}) {
        asio::io_context ioc;
        weft::mutex m;
        m.lock();
        asio::cancellation_signal sig;
        int outcome = 0;
        m.async_lock(asio::bind_cancellation_slot(
            sig.slot(),
            asio::bind_executor(ioc, [&](error_code ec, std::unique_lock<weft::mutex> lk) {
                outcome = (ec == asio::error::operation_aborted && !lk.owns_lock()) ? 1 : 2;
            })));
        ioc.poll();
        CHECK(outcome == 0);
        sig.emit(type);
        CHECK(outcome == 0);  // completion is posted, not inline
        REQUIRE(run_until(ioc, [&] { return outcome != 0; }));
        CHECK(outcome == 1);
        m.unlock();
        CHECK(m.try_lock());  // no stale waiter took it
        m.unlock();
    }
}

TEST_CASE("mutex: cancellation after the grant has no effect", "[sync][mutex][asio]") {
    asio::io_context ioc;
    weft::mutex m;
    m.lock();
    asio::cancellation_signal sig;
    int outcome = 0;
    m.async_lock(asio::bind_cancellation_slot(
        sig.slot(), asio::bind_executor(ioc, [&](error_code ec, std::unique_lock<weft::mutex> lk) {
            outcome = (!ec && lk.owns_lock()) ? 1 : 2;
        })));
    m.unlock();  // hands the lock to the pending operation
    sig.emit(asio::cancellation_type::terminal);
    REQUIRE(run_until(ioc, [&] { return outcome != 0; }));
    CHECK(outcome == 1);
    CHECK(m.try_lock());
    m.unlock();
}

TEST_CASE("mutex: a granted handler destroyed uninvoked releases the lock", "[sync][mutex][asio]") {
    weft::mutex m;
    bool called = false;
    {
        asio::io_context ioc;
        m.async_lock(asio::bind_executor(
            ioc, [&](error_code, std::unique_lock<weft::mutex>) { called = true; }));
        CHECK_FALSE(m.try_lock());  // granted to the pending completion
    }                               // ioc destroyed with the completion still queued
    CHECK_FALSE(called);
    CHECK(m.try_lock());
    m.unlock();
}

TEST_CASE("mutex: async waiters and task waiters share one FIFO", "[sync][mutex][asio]") {
    auto rt = weft::builder::current_thread().build();
    asio::io_context ioc;
    auto order = rt.block_on([&] {
        weft::mutex m;
        std::vector<int> order;
        m.lock();
        auto t1 = weft::spawn([&] {
            std::lock_guard g(m);
            order.push_back(1);
        });
        let_others_park();
        m.async_lock(asio::bind_executor(
            ioc, [&](error_code, std::unique_lock<weft::mutex>) { order.push_back(2); }));
        auto t3 = weft::spawn([&] {
            std::lock_guard g(m);
            order.push_back(3);
        });
        let_others_park();
        m.unlock();
        t1.join();  // t1 ran; the lock went on to the async waiter, whose handler is queued
        let_others_park();
        bool t3_waits = order.size() == 1;
        ioc.run_one_for(5s);  // handler: records 2, its unique_lock unlocks -> t3
        t3.join();
        order.push_back(t3_waits ? 0 : -1);
        return order;
    });
    CHECK(order == std::vector<int>{1, 2, 3, 0});
}
