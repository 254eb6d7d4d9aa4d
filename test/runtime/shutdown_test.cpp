#include "support/harness.hpp"

#include <weft/sync.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;

TEST_CASE("shutdown with 10k parked tasks unwinds every one of them", "[runtime][shutdown]") {
    const std::size_t n = weft::test::scaled(10'000);
    std::atomic<std::size_t> unwound{0};
    lifetime_counter::alive = 0;
    {
        auto rt = weft::test::make_runtime();
        rt.block_on([&] {
            for (std::size_t i = 0; i < n; ++i) {
                weft::spawn([&] {
                    lifetime_counter guard;
                    struct on_exit {
                        std::atomic<std::size_t>& c;
                        ~on_exit() { c.fetch_add(1); }
                    } e{unwound};
                    weft::sleep_for(1h);
                });
            }
        });
        // Wait until they have all started (each holds a guard).
        for (int i = 0; i < 2000 && lifetime_counter::alive.load() < static_cast<long>(n); ++i)
            std::this_thread::sleep_for(5ms);
        REQUIRE(lifetime_counter::alive.load() == static_cast<long>(n));
    }
    CHECK(unwound.load() == n);
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("shutdown cancels tasks that never started without calling them", "[runtime][shutdown]") {
    std::atomic<int> called{0};
    lifetime_counter::alive = 0;
    {
        auto rt = weft::builder::current_thread().build();
        for (int i = 0; i < 100; ++i) rt.spawn([&, g = lifetime_counter()] { called++; });
    }
    CHECK(called.load() == 0);
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("shutdown_timeout bounds the wait for a task that will not unwind",
          "[runtime][shutdown]") {
    auto rt = weft::test::make_runtime();
    std::atomic<bool> release{false};
    rt.spawn_blocking([&] {
        while (!release.load()) std::this_thread::sleep_for(1ms);
    });
    std::this_thread::sleep_for(20ms);
    auto t0 = std::chrono::steady_clock::now();
    rt.shutdown_timeout(100ms);
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took < 5s);
    CHECK(took >= 100ms);
    release = true;  // the detached blocking thread finishes on its own
    std::this_thread::sleep_for(20ms);
}

TEST_CASE("destructors may suspend while a task unwinds at shutdown", "[runtime][shutdown]") {
    std::atomic<int> finished{0};
    std::atomic<int> started{0};
    {
        auto rt = weft::test::make_runtime();
        rt.block_on([&] {
            for (int i = 0; i < 100; ++i) {
                weft::spawn([&] {
                    struct slow_cleanup {
                        std::atomic<int>& f;
                        ~slow_cleanup() {
                            weft::sleep_for(1ms);  // not interrupted: the task is unwinding
                            f.fetch_add(1);
                        }
                    } c{finished};
                    started.fetch_add(1);
                    weft::sleep_for(1h);
                });
            }
            // A task aborted before it first ran never constructs its guard: wait until every
            // one is parked in its sleep (a fixed pause was too short under TSan on a busy
            // machine).
            while (started.load() < 100) weft::sleep_for(1ms);
        });
    }
    CHECK(finished.load() == 100);
}

TEST_CASE("shutdown while tasks keep spawning tasks terminates", "[runtime][shutdown]") {
    std::atomic<long> spawned{0};
    {
        auto rt = weft::test::make_runtime();
        struct spawner {
            std::atomic<long>* count;
            void operator()() const {
                count->fetch_add(1);
                weft::yield_now();
                weft::spawn(spawner{count});
                weft::spawn(spawner{count});
            }
        };
        rt.spawn(spawner{&spawned});
        std::this_thread::sleep_for(20ms);
    }
    CHECK(spawned.load() > 1);
}

TEST_CASE("wakes from a plain thread racing runtime destruction are safe",
          "[runtime][shutdown][wake]") {
    // A plain thread keeps notifying while the runtime that owns the waiting task is torn
    // down: each wake either reaches the task before it completes or finds it complete. ASan
    // and TSan builds check that no wake touches a destroyed queue or shard.
    const std::size_t rounds = weft::test::scaled(200);
    for (std::size_t round = 0; round < rounds; ++round) {
        auto n = std::make_shared<weft::notify>();
        auto started = std::make_shared<std::atomic<bool>>(false);
        std::atomic<bool> stop{false};
        std::thread hammer;
        {
            auto rt = weft::test::make_runtime(2);
            rt.spawn([n, started] {
                started->store(true);
                for (;;) n->notified();
            });
            hammer = std::thread([n, &stop] {
                while (!stop.load(std::memory_order_relaxed)) n->notify_one();
                for (int i = 0; i < 100; ++i) n->notify_one();  // after the runtime is gone
            });
            auto until = std::chrono::steady_clock::now() + 2s;
            while (!started->load() && std::chrono::steady_clock::now() < until) {
                std::this_thread::yield();
            }
            REQUIRE(started->load());
        }
        stop.store(true);
        hammer.join();
    }
}

TEST_CASE("a wake after a timed-out shutdown leaked its task is a no-op",
          "[runtime][shutdown][wake]") {
    // The task ignores its abort (a shield around the wait), so shutdown_timeout leaks it. Its
    // waker is still registered in the notify, and a plain thread fires it after the runtime
    // object is gone: the wake must find the stopped runtime and do nothing.
    auto n = std::make_shared<weft::notify>();
    auto started = std::make_shared<std::atomic<bool>>(false);
    auto wakes = std::make_shared<std::atomic<int>>(0);
    {
        auto rt = weft::test::make_runtime(2);
        rt.spawn([n, started, wakes] {
            weft::this_task::shield keep_waiting;
            started->store(true);
            for (;;) {
                n->notified();
                wakes->fetch_add(1);
            }
        });
        auto until = std::chrono::steady_clock::now() + 2s;
        while (!started->load() && std::chrono::steady_clock::now() < until) {
            std::this_thread::yield();
        }
        REQUIRE(started->load());
        std::this_thread::sleep_for(10ms);  // parked in notified() by now
        rt.shutdown_timeout(50ms);
    }
    int before = wakes->load();
    for (int i = 0; i < 10; ++i) {
        std::thread([n] { n->notify_one(); }).join();
    }
    CHECK(wakes->load() == before);  // the leaked task never runs again
}
