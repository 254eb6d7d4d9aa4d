// weft::shared_mutex: concurrent readers, exclusive writers, FIFO without writer starvation.
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
#include <mutex>
#include <shared_mutex>
#include <vector>

using namespace sync_test;
using boost::system::error_code;

TEST_CASE("shared_mutex: readers hold it together", "[sync][shared_mutex]") {
    auto rt = weft::test::make_runtime();
    auto all_in = rt.block_on([] {
        weft::shared_mutex m;
        std::atomic<int> inside{0};
        std::atomic<int> saw_all{0};
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 20; ++i) {
            hs.push_back(weft::spawn([&] {
                std::shared_lock g(m);
                inside.fetch_add(1);
                // Every reader waits inside until all 20 are in: only possible if they share.
                for (int k = 0; k < 5000 && inside.load() < 20; ++k) weft::sleep_for(1ms);
                if (inside.load() == 20) saw_all.fetch_add(1);
            }));
        }
        for (auto& h : hs) h.join();
        return saw_all.load();
    });
    CHECK(all_in == 20);
}

TEST_CASE("shared_mutex: writers exclude readers and writers", "[sync][shared_mutex]") {
    auto rt = weft::test::make_runtime();
    const int iters = static_cast<int>(weft::test::scaled(500));
    auto bad = rt.block_on([iters] {
        weft::shared_mutex m;
        std::atomic<int> readers{0};
        std::atomic<int> writers{0};
        std::atomic<int> violations{0};
        long long value = 0;  // written under the exclusive lock
        std::vector<weft::join_handle<void>> hs;
        for (int t = 0; t < 16; ++t) {
            hs.push_back(weft::spawn([&, t] {
                for (int i = 0; i < iters; ++i) {
                    if ((t + i) % 4 == 0) {
                        std::unique_lock g(m);
                        if (writers.fetch_add(1) != 0 || readers.load() != 0) violations++;
                        ++value;
                        if (i % 16 == 0) weft::yield_now();
                        writers.fetch_sub(1);
                    } else {
                        std::shared_lock g(m);
                        readers.fetch_add(1);
                        if (writers.load() != 0) violations++;
                        if (i % 16 == 1) weft::yield_now();
                        readers.fetch_sub(1);
                    }
                }
            }));
        }
        for (auto& h : hs) h.join();
        return violations.load();
    });
    CHECK(bad == 0);
}

TEST_CASE("shared_mutex: a waiting writer blocks later readers (no writer starvation)",
          "[sync][shared_mutex]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::shared_mutex m;
        std::vector<std::string> order;
        m.lock_shared();  // a reader holds it
        auto w = weft::spawn([&] {
            std::unique_lock g(m);
            order.push_back("w");
        });
        let_others_park();
        bool late_reader_blocked = !m.try_lock_shared();
        auto r2 = weft::spawn([&] {
            std::shared_lock g(m);
            order.push_back("r2");
        });
        let_others_park();
        bool r2_waits = order.empty();
        m.unlock_shared();  // the writer goes first, then the reader behind it
        w.join();
        r2.join();
        return std::make_tuple(late_reader_blocked, r2_waits, order);
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == std::vector<std::string>{"w", "r2"});
}

TEST_CASE("shared_mutex: a writer gets in under a steady stream of readers",
          "[sync][shared_mutex]") {
    auto rt = weft::test::make_runtime();
    auto writes = rt.block_on([] {
        weft::shared_mutex m;
        std::atomic<bool> stop{false};
        std::vector<weft::join_handle<void>> readers;
        for (int i = 0; i < 8; ++i) {
            readers.push_back(weft::spawn([&] {
                while (!stop) {
                    std::shared_lock g(m);
                    weft::sleep_for(100us);  // overlapping read holds
                }
            }));
        }
        weft::sleep_for(5ms);
        int n = 0;
        for (; n < 20; ++n) {
            std::unique_lock g(m);
        }
        stop = true;
        for (auto& h : readers) h.join();
        return n;
    });
    CHECK(writes == 20);
}

TEST_CASE("shared_mutex: abort of a writer waiting for readers lets later readers in",
          "[sync][shared_mutex][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::shared_mutex m;
        m.lock_shared();
        m.lock_shared();
        auto w = weft::spawn([&] { std::unique_lock g(m); });
        let_others_park();
        m.unlock_shared();  // one reader's share is set aside for the writer
        bool reader_got = false;
        auto r2 = weft::spawn([&] {
            std::shared_lock g(m);
            reader_got = true;
        });
        let_others_park();
        bool r2_waited = !reader_got;
        w.abort();
        bool cancelled = false;
        try {
            w.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        r2.join();
        m.unlock_shared();
        bool free_after = m.try_lock();
        if (free_after) m.unlock();
        return std::make_tuple(r2_waited, cancelled, reader_got, free_after);
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r));
}

TEST_CASE("shared_mutex: abort while parked as a reader", "[sync][shared_mutex][abort]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::shared_mutex m;
        m.lock();
        std::atomic<bool> started{false};
        auto h = weft::spawn([&] {
            started = true;
            std::shared_lock g(m);
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
        bool free_after = m.try_lock();
        if (free_after) m.unlock();
        return std::make_pair(cancelled, free_after);
    });
    CHECK(r.first);
    CHECK(r.second);
}

// ---- Asio forms ---------------------------------------------------------------------------

TEST_CASE("shared_mutex: async_lock and async_lock_shared", "[sync][shared_mutex][asio]") {
    asio::io_context ioc;
    weft::shared_mutex m;
    m.lock_shared();
    int writer = 0;
    m.async_lock(
        asio::bind_executor(ioc, [&](error_code ec, std::unique_lock<weft::shared_mutex> lk) {
            writer = (!ec && lk.owns_lock()) ? 1 : 2;
        }));
    int reader = 0;
    m.async_lock_shared(
        asio::bind_executor(ioc, [&](error_code ec, std::shared_lock<weft::shared_mutex> lk) {
            reader = (!ec && lk.owns_lock() && writer == 1) ? 1 : 2;
        }));
    ioc.poll();
    CHECK(writer == 0);
    CHECK(reader == 0);
    m.unlock_shared();
    REQUIRE(run_until(ioc, [&] { return reader != 0; }));
    CHECK(writer == 1);
    CHECK(reader == 1);

    int done = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            { auto r = co_await m.async_lock_shared(asio::use_awaitable); }
            auto w = co_await m.async_lock(asio::use_awaitable);
            ++done;
        },
        asio::detached);
    REQUIRE(run_until(ioc, [&] { return done == 1; }));

    {
        std::future<std::shared_lock<weft::shared_mutex>> f = m.async_lock_shared(asio::use_future);
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        auto lk = f.get();
        CHECK(lk.owns_lock());
    }
    {
        std::future<std::unique_lock<weft::shared_mutex>> f = m.async_lock(asio::use_future);
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        auto lk = f.get();
        CHECK(lk.owns_lock());
        CHECK_FALSE(m.try_lock_shared());
    }
    bool called = false;
    auto op = m.async_lock(asio::deferred);
    std::move(op)(asio::bind_executor(
        ioc, [&](error_code ec, std::unique_lock<weft::shared_mutex> lk) { called = !ec && lk; }));
    REQUIRE(run_until(ioc, [&] { return called; }));
    bool shared_called = false;
    auto op2 = m.async_lock_shared(asio::deferred);
    std::move(op2)(
        asio::bind_executor(ioc, [&](error_code ec, std::shared_lock<weft::shared_mutex> lk) {
            shared_called = !ec && lk;
        }));
    REQUIRE(run_until(ioc, [&] { return shared_called; }));
    CHECK(m.try_lock());
    m.unlock();
}

TEST_CASE("shared_mutex: async waits cancelled through their slot consume nothing",
          "[sync][shared_mutex][asio][abort]") {
    asio::io_context ioc;
    weft::shared_mutex m;
    m.lock_shared();
    asio::cancellation_signal sig_w;
    asio::cancellation_signal sig_r;
    int w_outcome = 0;
    int r_outcome = 0;
    m.async_lock(asio::bind_cancellation_slot(
        sig_w.slot(),
        asio::bind_executor(ioc, [&](error_code ec, std::unique_lock<weft::shared_mutex> lk) {
            w_outcome = (ec == asio::error::operation_aborted && !lk) ? 1 : 2;
        })));
    m.async_lock_shared(asio::bind_cancellation_slot(
        sig_r.slot(),
        asio::bind_executor(ioc, [&](error_code ec, std::shared_lock<weft::shared_mutex> lk) {
            r_outcome = (ec == asio::error::operation_aborted && !lk) ? 1 : 2;
        })));
    ioc.poll();
    sig_r.emit(asio::cancellation_type::partial);
    sig_w.emit(asio::cancellation_type::terminal);
    REQUIRE(run_until(ioc, [&] { return w_outcome != 0 && r_outcome != 0; }));
    CHECK(w_outcome == 1);
    CHECK(r_outcome == 1);
    m.unlock_shared();
    CHECK(m.try_lock());
    m.unlock();
}
