#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>

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
