// weft::semaphore: permits, FIFO with partial assignment, close, forget, cancel-safety, Asio.
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
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

using namespace sync_test;
using boost::system::error_code;

TEST_CASE("semaphore: at most `permits` holders at once", "[sync][semaphore]") {
    auto rt = weft::test::make_runtime();
    weft::semaphore sem(3);
    std::atomic<int> inside{0};
    std::atomic<int> peak{0};
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (int t = 0; t < 32; ++t) {
            hs.push_back(weft::spawn([&] {
                for (int k = 0; k < 20; ++k) {
                    auto p = sem.acquire();
                    int now = inside.fetch_add(1) + 1;
                    int prev = peak.load();
                    while (now > prev && !peak.compare_exchange_weak(prev, now)) {}
                    weft::yield_now();
                    inside.fetch_sub(1);
                }
            }));
        }
        for (auto& h : hs) h.join();
    });
    CHECK(peak.load() <= 3);
    CHECK(peak.load() >= 2);
    CHECK(sem.available_permits() == 3);
}

TEST_CASE("semaphore: try_acquire, n permits, and acquire(0)", "[sync][semaphore]") {
    weft::semaphore sem(5);
    auto a = sem.try_acquire(3);
    REQUIRE(a);
    CHECK(a->num_permits() == 3);
    CHECK(sem.available_permits() == 2);
    CHECK_FALSE(sem.try_acquire(3));
    auto z = sem.acquire(0);  // a plain thread: no runtime needed
    CHECK(z.num_permits() == 0);
    a.reset();
    CHECK(sem.available_permits() == 5);
    CHECK_THROWS_AS(sem.acquire(weft::semaphore::max_permits + 1), std::invalid_argument);
    CHECK_THROWS_AS(weft::semaphore(weft::semaphore::max_permits + 1), std::invalid_argument);
    CHECK_THROWS_AS(sem.add_permits(weft::semaphore::max_permits), std::overflow_error);
}

TEST_CASE("semaphore: FIFO; a large request at the front collects permits", "[sync][semaphore]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::semaphore sem(0);
        bool a_got = false;
        bool b_got = false;
        auto a = weft::spawn([&] {
            auto p = sem.acquire(3);
            a_got = true;
            p.forget();
        });
        let_others_park();
        auto b = weft::spawn([&] {
            auto p = sem.acquire(1);
            b_got = true;
            p.forget();
        });
        let_others_park();
        sem.add_permits(2);  // set aside for a; b must not overtake it
        let_others_park();
        std::size_t avail_after_2 = sem.available_permits();
        bool try_blocked = !sem.try_acquire(1).has_value();
        bool none_yet = !a_got && !b_got;
        sem.add_permits(1);  // a complete
        a.join();
        let_others_park();
        bool b_still_waits = !b_got;
        sem.add_permits(1);
        b.join();
        return std::make_tuple(avail_after_2, try_blocked, none_yet, b_still_waits,
                               sem.available_permits());
    });
    CHECK(std::get<0>(r) == 0);
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r));
    CHECK(std::get<4>(r) == 0);
}

TEST_CASE("semaphore: add_permits wakes as many waiters as it can", "[sync][semaphore]") {
    auto rt = weft::test::make_runtime();
    auto avail = rt.block_on([] {
        weft::semaphore sem(0);
        std::atomic<int> got{0};
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 40; ++i) {
            hs.push_back(weft::spawn([&] {
                auto p = sem.acquire();
                got.fetch_add(1);
                p.forget();
            }));
        }
        weft::sleep_for(5ms);
        sem.add_permits(40);  // more than one wake batch
        for (auto& h : hs) h.join();
        return std::make_pair(got.load(), sem.available_permits());
    });
    CHECK(avail.first == 40);
    CHECK(avail.second == 0);
}

TEST_CASE("semaphore: close ends parked and later acquires", "[sync][semaphore]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::semaphore sem(1);
        auto held = sem.acquire();
        std::atomic<int> closed_seen{0};
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 50; ++i) {
            hs.push_back(weft::spawn([&, i] {
                try {
                    auto p = sem.acquire(1 + i % 2);
                } catch (const weft::semaphore_closed& e) {
                    if (e.code() == weft::error::semaphore_closed) closed_seen.fetch_add(1);
                }
            }));
        }
        weft::sleep_for(5ms);
        sem.close();
        for (auto& h : hs) h.join();
        bool acquire_throws = false;
        bool try_throws = false;
        try {
            (void)sem.acquire();
        } catch (const weft::semaphore_closed&) {
            acquire_throws = true;
        }
        try {
            (void)sem.try_acquire();
        } catch (const weft::semaphore_closed&) {
            try_throws = true;
        }
        held = weft::semaphore_permit();  // a permit taken before close still returns
        std::size_t after_return = sem.available_permits();
        sem.add_permits(2);
        return std::make_tuple(closed_seen.load(), acquire_throws, try_throws, after_return,
                               sem.available_permits(), sem.is_closed());
    });
    CHECK(std::get<0>(r) == 50);
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r) == 1);
    CHECK(std::get<4>(r) == 3);
    CHECK(std::get<5>(r));
}

TEST_CASE("semaphore: close gives back permits set aside for a waiter", "[sync][semaphore]") {
    auto rt = weft::builder::current_thread().build();
    auto avail = rt.block_on([] {
        weft::semaphore sem(2);
        auto h = weft::spawn([&] {
            try {
                (void)sem.acquire(5);  // takes the 2 and waits for 3 more
            } catch (const weft::semaphore_closed&) {}
        });
        let_others_park();
        std::size_t during = sem.available_permits();
        sem.close();
        h.join();
        return std::make_pair(during, sem.available_permits());
    });
    CHECK(avail.first == 0);
    CHECK(avail.second == 2);
}

TEST_CASE("semaphore: permits move, merge and forget", "[sync][semaphore]") {
    weft::semaphore sem(4);
    {
        auto a = sem.acquire(2);
        weft::semaphore_permit b = std::move(a);  // moving does not release
        CHECK(sem.available_permits() == 2);
        CHECK(a.num_permits() == 0);
        CHECK(b.num_permits() == 2);
        auto c = sem.acquire(1);
        b.merge(std::move(c));
        CHECK(b.num_permits() == 3);
        CHECK(sem.available_permits() == 1);
    }
    CHECK(sem.available_permits() == 4);
    {
        auto f = sem.acquire(3);
        f.forget();
    }
    CHECK(sem.available_permits() == 1);
    weft::semaphore other(1);
    auto x = sem.acquire(1);
    auto y = other.acquire(1);
    CHECK_THROWS_AS(x.merge(std::move(y)), std::invalid_argument);
}

TEST_CASE("semaphore: abort while parked with permits set aside returns them",
          "[sync][semaphore][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::semaphore sem(0);
        auto a = weft::spawn([&] { (void)sem.acquire(3); });
        let_others_park();
        bool b_got = false;
        auto b = weft::spawn([&] {
            auto p = sem.acquire(2);
            b_got = true;
        });
        let_others_park();
        sem.add_permits(2);  // both set aside for a (first in line)
        let_others_park();
        bool b_waited = !b_got;
        a.abort();
        bool a_cancelled = false;
        try {
            a.join();
        } catch (const weft::join_error& e) {
            a_cancelled = e.is_cancelled();
        }
        b.join();  // a's 2 permits went to b
        return std::make_tuple(b_waited, a_cancelled, b_got, sem.available_permits());
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r) == 2);
}

TEST_CASE("semaphore: permits granted to a waiter being aborted go to the next",
          "[sync][semaphore][abort]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::semaphore sem(0);
        bool a_got = false;
        bool b_got = false;
        auto a = weft::spawn([&] {
            auto p = sem.acquire();
            a_got = true;
        });
        let_others_park();
        auto b = weft::spawn([&] {
            auto p = sem.acquire();
            b_got = true;
            p.forget();
        });
        let_others_park();
        a.abort();           // woken, not run yet: still first in line
        sem.add_permits(1);  // granted to a, which must pass it to b
        bool a_cancelled = false;
        try {
            a.join();
        } catch (const weft::join_error& e) {
            a_cancelled = e.is_cancelled();
        }
        b.join();
        return std::make_tuple(a_cancelled, a_got, b_got, sem.available_permits());
    });
    CHECK(std::get<0>(r));
    CHECK_FALSE(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r) == 0);
}

TEST_CASE("semaphore: a timeout around a parked acquire() takes nothing",
          "[sync][semaphore][abort]") {
    auto rt = weft::test::make_runtime();
    auto avail = rt.block_on([] {
        weft::semaphore sem(2);
        bool elapsed = false;
        try {
            weft::timeout(10ms, [&] { (void)sem.acquire(3); });  // takes 2, waits for 1 more
        } catch (const weft::elapsed&) {
            elapsed = true;
        }
        return std::make_pair(elapsed, sem.available_permits());
    });
    CHECK(avail.first);
    CHECK(avail.second == 2);
}

TEST_CASE("semaphore: abort storm against parked acquirers leaks no permit",
          "[sync][semaphore][abort][stress]") {
    auto rt = weft::test::make_runtime();
    const std::size_t initial = 5;
    const std::size_t tasks = weft::test::scaled(2000);
    weft::semaphore sem(initial);
    std::atomic<std::size_t> inside{0};
    std::atomic<bool> over{false};
    auto avail = rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        hs.reserve(tasks);
        for (std::size_t t = 0; t < tasks; ++t) {
            hs.push_back(weft::spawn([&, t] {
                for (int k = 0; k < 4; ++k) {
                    std::size_t n = 1 + (t + k) % 3;
                    auto p = sem.acquire(n);
                    if (inside.fetch_add(n) + n > initial) over = true;
                    struct leave {
                        std::atomic<std::size_t>& in;
                        std::size_t n;
                        ~leave() { in.fetch_sub(n); }  // also when the yield throws
                    } guard{inside, n};
                    weft::yield_now();
                }
            }));
        }
        std::mt19937 rng(11);
        for (std::size_t k = 0; k < tasks / 2; ++k) {
            hs[rng() % tasks].abort();
            if (k % 50 == 0) weft::yield_now();
        }
        for (auto& h : hs) {
            try {
                h.join();
            } catch (const weft::join_error&) {}
        }
        return sem.available_permits();
    });
    CHECK_FALSE(over.load());
    CHECK(avail == initial);
}

TEST_CASE("semaphore: plain threads and tasks share permits", "[sync][semaphore]") {
    auto rt = weft::test::make_runtime();
    weft::semaphore sem(2);
    std::atomic<int> inside{0};
    std::atomic<bool> over{false};
    auto body = [&] {
        for (int k = 0; k < 200; ++k) {
            auto p = sem.acquire();
            if (inside.fetch_add(1) + 1 > 2) over = true;
            inside.fetch_sub(1);
        }
    };
    std::thread t1(body);
    std::thread t2(body);
    rt.block_on([&] {
        auto h1 = weft::spawn(body);
        auto h2 = weft::spawn(body);
        h1.join();
        h2.join();
    });
    t1.join();
    t2.join();
    CHECK_FALSE(over.load());
    CHECK(sem.available_permits() == 2);
}

// ---- Asio forms ---------------------------------------------------------------------------

TEST_CASE("semaphore: async_acquire from a callback, an awaitable, use_future and deferred",
          "[sync][semaphore][asio]") {
    weft::semaphore sem(1);
    asio::io_context ioc;
    int got = 0;
    sem.async_acquire(2, asio::bind_executor(ioc, [&](error_code ec, weft::semaphore_permit p) {
                          got = (!ec && p.num_permits() == 2) ? 1 : 2;
                      }));
    ioc.poll();
    CHECK(got == 0);
    CHECK(sem.available_permits() == 0);  // the 1 is set aside for the waiter
    sem.add_permits(1);
    REQUIRE(run_until(ioc, [&] { return got != 0; }));
    CHECK(got == 1);
    CHECK(sem.available_permits() == 2);  // the permit went back with the handler

    int done = 0;
    for (int c = 0; c < 3; ++c) {
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                for (int i = 0; i < 50; ++i) {
                    auto p = co_await sem.async_acquire(2, asio::use_awaitable);
                }
                ++done;
            },
            asio::detached);
    }
    REQUIRE(run_until(ioc, [&] { return done == 3; }));

    std::future<weft::semaphore_permit> f = sem.async_acquire(1, asio::use_future);
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    auto p = f.get();
    CHECK(p.num_permits() == 1);
    CHECK(sem.available_permits() == 1);

    bool called = false;
    auto op = sem.async_acquire(1, asio::deferred);
    std::move(op)(asio::bind_executor(ioc, [&](error_code ec, weft::semaphore_permit q) {
        called = !ec && q.num_permits() == 1;
    }));
    REQUIRE(run_until(ioc, [&] { return called; }));
}

TEST_CASE("semaphore: async_acquire cancelled through its slot consumes nothing",
          "[sync][semaphore][asio][abort]") {
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                      asio::cancellation_type::total}) {
        asio::io_context ioc;
        weft::semaphore sem(1);
        asio::cancellation_signal sig;
        int outcome = 0;
        sem.async_acquire(
            3,
            asio::bind_cancellation_slot(
                sig.slot(), asio::bind_executor(ioc, [&](error_code ec, weft::semaphore_permit p) {
                    outcome =
                        (ec == asio::error::operation_aborted && p.num_permits() == 0) ? 1 : 2;
                })));
        ioc.poll();
        CHECK(sem.available_permits() == 0);  // set aside
        sig.emit(type);
        REQUIRE(run_until(ioc, [&] { return outcome != 0; }));
        CHECK(outcome == 1);
        CHECK(sem.available_permits() == 1);  // given back
    }
}

TEST_CASE("semaphore: async_acquire on a closed semaphore", "[sync][semaphore][asio]") {
    asio::io_context ioc;
    weft::semaphore sem(0);
    error_code e1;
    error_code e2;
    int n = 0;
    sem.async_acquire(1, asio::bind_executor(ioc, [&](error_code ec, weft::semaphore_permit) {
                          e1 = ec;
                          ++n;
                      }));
    sem.close();
    sem.async_acquire(1, asio::bind_executor(ioc, [&](error_code ec, weft::semaphore_permit) {
                          e2 = ec;
                          ++n;
                      }));
    REQUIRE(run_until(ioc, [&] { return n == 2; }));
    CHECK(e1 == weft::error::semaphore_closed);
    CHECK(e2 == weft::error::semaphore_closed);
}

TEST_CASE("semaphore: a granted handler destroyed uninvoked returns its permits",
          "[sync][semaphore][asio]") {
    weft::semaphore sem(3);
    {
        asio::io_context ioc;
        sem.async_acquire(2, asio::bind_executor(ioc, [](error_code, weft::semaphore_permit) {}));
        CHECK(sem.available_permits() == 1);
    }
    CHECK(sem.available_permits() == 3);
}

TEST_CASE("semaphore: an owned permit keeps its semaphore alive", "[sync][semaphore][owned]") {
    auto rt = weft::test::make_runtime();
    auto sem = std::make_shared<weft::semaphore>(2);
    std::weak_ptr<weft::semaphore> watch = sem;
    std::atomic<bool> release{false};
    // The permit moves into a task that outlives every other owner of the semaphore.
    auto h = rt.block_on([&] {
        auto permit = weft::acquire_owned(sem);
        return weft::spawn([&release, permit = std::move(permit)] {
            while (!release) weft::sleep_for(200us);
            return permit.get_semaphore()->available_permits();
        });
    });
    sem.reset();
    bool alive_while_held = !watch.expired();
    release = true;
    std::size_t available_inside = 0;
    rt.block_on([&] { available_inside = h.join(); });
    CHECK(alive_while_held);
    CHECK(available_inside == 1);
    CHECK(wait_until([&] { return watch.expired(); }));  // the task's permit was the last owner
}

TEST_CASE("semaphore: acquire_owned waits, returns permits on destruction and move",
          "[sync][semaphore][owned]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto sem = std::make_shared<weft::semaphore>(3);
        auto a = weft::acquire_owned(sem, 2);
        auto b = weft::try_acquire_owned(sem);
        bool none_left = !weft::try_acquire_owned(sem).has_value();
        std::atomic<bool> got{false};
        auto waiter = weft::spawn([&] {
            auto p = weft::acquire_owned(sem, 2);  // parks until a is gone
            got = true;
            return p.num_permits();
        });
        weft::sleep_for(5ms);
        bool parked = !got.load();
        {
            weft::owned_semaphore_permit moved(std::move(a));  // moving releases nothing
            weft::sleep_for(2ms);
            parked = parked && !got.load();
        }  // the two permits return here
        auto n = weft::timeout(10s, [&] { return waiter.join(); });
        // Merging, forgetting and a moved-into permit of another semaphore.
        auto other = std::make_shared<weft::semaphore>(1);
        std::weak_ptr<weft::semaphore> other_watch = other;
        auto c = weft::acquire_owned(other);
        other.reset();
        c = std::move(*b);  // returns `other`'s permit, then drops its last owner
        bool other_gone = other_watch.expired();
        auto d = weft::acquire_owned(sem);
        c.merge(std::move(d));
        auto merged = c.num_permits();
        bool mixed_rejected = false;
        try {
            auto e = weft::acquire_owned(std::make_shared<weft::semaphore>(1));
            c.merge(std::move(e));
        } catch (const std::invalid_argument&) {
            mixed_rejected = true;
        }
        c.forget();
        return std::make_tuple(b.has_value(), none_left, parked, n, other_gone, merged,
                               mixed_rejected, sem->available_permits(), c.num_permits());
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r) == 2);
    CHECK(std::get<4>(r));
    CHECK(std::get<5>(r) == 2);
    CHECK(std::get<6>(r));
    CHECK(std::get<7>(r) == 1);  // 3 - the 2 forgotten
    CHECK(std::get<8>(r) == 0);
}

TEST_CASE("semaphore: acquire_owned errors, close and cancellation", "[sync][semaphore][owned]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        bool null_rejected = false;
        try {
            weft::acquire_owned(nullptr);
        } catch (const std::invalid_argument&) {
            null_rejected = true;
        }
        bool null_try_rejected = false;
        try {
            weft::try_acquire_owned(nullptr);
        } catch (const std::invalid_argument&) {
            null_try_rejected = true;
        }
        auto sem = std::make_shared<weft::semaphore>(1);
        auto held = weft::acquire_owned(sem);
        bool timed_out = false;
        try {
            weft::timeout(5ms, [&] { return weft::acquire_owned(sem); });
        } catch (const weft::elapsed&) {
            timed_out = true;
        }
        long use_after_timeout = sem.use_count();  // the cancelled wait kept no reference
        held = {};
        bool back = sem->available_permits() == 1;
        sem->close();
        bool closed = false;
        try {
            weft::acquire_owned(sem);
        } catch (const weft::semaphore_closed&) {
            closed = true;
        }
        bool try_closed = false;
        try {
            weft::try_acquire_owned(sem);
        } catch (const weft::semaphore_closed&) {
            try_closed = true;
        }
        return std::make_tuple(null_rejected, null_try_rejected, timed_out, use_after_timeout, back,
                               closed, try_closed, sem.use_count());
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r) == 2);  // sem and held
    CHECK(std::get<4>(r));
    CHECK(std::get<5>(r));
    CHECK(std::get<6>(r));
    CHECK(std::get<7>(r) == 1);
}
