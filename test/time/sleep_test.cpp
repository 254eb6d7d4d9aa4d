#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>

using namespace std::chrono_literals;

TEST_CASE("sleep_for waits at least the duration", "[time][sleep]") {
    auto rt = weft::test::make_runtime();
    auto took = rt.block_on([] {
        auto t0 = std::chrono::steady_clock::now();
        weft::sleep_for(20ms);
        return std::chrono::steady_clock::now() - t0;
    });
    CHECK(took >= 20ms);
    CHECK(took < 2s);
}

TEST_CASE("sleep_until a past deadline returns at once", "[time][sleep]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] { weft::sleep_until(std::chrono::steady_clock::now() - 1s); });
}

TEST_CASE("many concurrent sleeps all complete, shortest first", "[time][sleep]") {
    auto rt = weft::test::make_runtime();
    const int n = static_cast<int>(weft::test::scaled(10'000));
    std::atomic<int> done{0};
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < n; ++i) {
            hs.push_back(weft::spawn([&] {
                weft::sleep_for(10ms);
                done++;
            }));
        }
        for (auto& h : hs) h.join();
    });
    CHECK(done.load() == n);
}

TEST_CASE("sleep on a plain thread blocks it", "[time][sleep]") {
    auto t0 = std::chrono::steady_clock::now();
    weft::sleep_for(5ms);
    CHECK(std::chrono::steady_clock::now() - t0 >= 5ms);
}

TEST_CASE("a sleeper wakes on time while its worker is stuck in a long task", "[time][sleep]") {
    // x arms its timer on its worker's heap, then that worker runs b, which never yields. The
    // other worker, parked with no timer to wait for, must learn of x's deadline and fire it.
    auto rt = weft::builder::multi_thread().worker_threads(2).build();
    auto late = rt.block_on([] {
        auto x = weft::spawn([] {
            auto b = weft::spawn([] {  // same worker: the LIFO slot, run when x sleeps
                auto t0 = std::chrono::steady_clock::now();
                while (std::chrono::steady_clock::now() - t0 < 1500ms) {}
            });
            auto t0 = std::chrono::steady_clock::now();
            weft::sleep_for(5ms);
            auto slept = std::chrono::steady_clock::now() - t0;
            b.join();
            return slept;
        });
        return x.join();
    });
    CHECK(late >= 5ms);
    CHECK(late < 750ms);  // was about 1.5 s: the timer fired when b ended
}

TEST_CASE("a timer armed and disarmed over and over wakes an idle peer worker only now and then",
          "[time][sleep]") {
    // A select whose timer branch loses arms a deadline and disarms it at once, on every call:
    // an interval's next tick (the same deadline for a whole period) or a fresh timeout (a
    // later one each time). The idle peer sleeps until the earliest deadline of all workers'
    // timers, so the first arming wakes it; it keeps that deadline until it passes, so the
    // armings after it, no earlier, must leave it asleep. Each wake-up is a futex wake and a
    // thread switch (the select benchmark row spent 13% of its time there, one per call).
    auto rt = weft::test::make_runtime(2);
    // Fewer under the sanitizers, whose task switches take long enough that the tick is due
    // before its branch runs (it then wins without arming anything).
    const int n = static_cast<int>(weft::test::scaled(3000));
    auto wakeups = [&rt] {
        std::uint64_t sum = 0;
        for (const auto& w : rt.metrics().per_worker) sum += w.wakeups;
        return sum;
    };
    auto check_wakeups = [&](auto&& loop) {
        const std::uint64_t before = wakeups();
        const auto t0 = std::chrono::steady_clock::now();
        const int timer_wins = rt.block_on(loop);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
        const std::uint64_t woke = wakeups() - before;
        INFO("calls " << n << ", timer branch won " << timer_wins << ", " << ms
                      << " ms, peer wake-ups " << woke);
        // About two a millisecond at most (one at the kept deadline, one for the next
        // arming after it), against one a call before.
        CHECK(woke <= static_cast<std::uint64_t>(n / 10 + 2 * ms));
    };
    SECTION("an interval's next tick") {
        check_wakeups([n] {
            weft::interval ticker(1ms);
            int timer_wins = 0;
            for (int i = 0; i < n; ++i) {
                // Biased: the tick branch starts first and parks until the other one ends.
                auto r = weft::select_biased([&] { return ticker.tick(); }, [] { return 0; });
                if (r.index() == 0) ++timer_wins;
            }
            return timer_wins;
        });
    }
    SECTION("a fresh timeout each time") {
        check_wakeups([n] {
            int timer_wins = 0;
            for (int i = 0; i < n; ++i) {
                auto r = weft::select_biased([] { weft::sleep_for(10s); }, [] { return 0; });
                if (r.index() == 0) ++timer_wins;
            }
            return timer_wins;
        });
    }
}
