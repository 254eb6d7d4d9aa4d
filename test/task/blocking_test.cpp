#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("spawn_blocking runs off the workers and returns its value", "[task][blocking]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto worker_thread = weft::test::current_thread_id();
        auto h = weft::spawn_blocking([] {
            std::this_thread::sleep_for(5ms);
            return weft::test::current_thread_id();
        });
        return h.join() != worker_thread;
    });
    CHECK(r);
}

TEST_CASE("the blocking pool grows on demand and reaps idle threads", "[task][blocking]") {
    auto rt = weft::builder::multi_thread().worker_threads(1).thread_keep_alive(50ms).build();
    std::atomic<int> inside{0};
    std::atomic<int> peak{0};
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 8; ++i) {
            hs.push_back(weft::spawn_blocking([&] {
                int now = ++inside;
                int p = peak.load();
                while (now > p && !peak.compare_exchange_weak(p, now)) {}
                // Stay until all eight are inside at once (only a pool that grew to eight
                // threads gets there), bounded: a fixed pause was too short for thread
                // creation under TSan on a busy machine.
                auto give_up = std::chrono::steady_clock::now() + 10s;
                while (peak.load() < 8 && std::chrono::steady_clock::now() < give_up)
                    std::this_thread::sleep_for(1ms);
                --inside;
            }));
        }
        for (auto& h : hs) h.join();
    });
    CHECK(peak.load() == 8);
    CHECK(rt.metrics().blocking_threads >= 1);
    for (int i = 0; i < 400 && rt.metrics().blocking_threads > 0; ++i)
        std::this_thread::sleep_for(5ms);
    CHECK(rt.metrics().blocking_threads == 0);
}

TEST_CASE("max_blocking_threads caps the pool; queued jobs still run", "[task][blocking]") {
    auto rt = weft::builder::multi_thread().worker_threads(1).max_blocking_threads(2).build();
    std::atomic<int> inside{0}, peak{0}, done{0};
    rt.block_on([&] {
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 6; ++i) {
            hs.push_back(weft::spawn_blocking([&] {
                int now = ++inside;
                int p = peak.load();
                while (now > p && !peak.compare_exchange_weak(p, now)) {}
                std::this_thread::sleep_for(10ms);
                --inside;
                ++done;
            }));
        }
        for (auto& h : hs) h.join();
    });
    CHECK(peak.load() <= 2);
    CHECK(done.load() == 6);
}

TEST_CASE("aborting a blocking job: before start it never runs, after start no effect",
          "[task][blocking]") {
    auto rt = weft::builder::multi_thread().worker_threads(1).max_blocking_threads(1).build();
    auto r = rt.block_on([] {
        std::atomic<bool> first_running{false}, second_ran{false}, release{false};
        auto first = weft::spawn_blocking([&] {
            first_running = true;
            while (!release) std::this_thread::sleep_for(1ms);
            return 1;
        });
        auto second = weft::spawn_blocking([&] { second_ran = true; });
        while (!first_running) weft::sleep_for(1ms);
        first.abort();   // already running: no effect
        second.abort();  // still queued behind it: never runs
        release = true;
        int v = first.join();
        bool second_cancelled = false;
        try {
            second.join();
        } catch (const weft::join_error& e) {
            second_cancelled = e.is_cancelled();
        }
        return std::make_tuple(v, second_cancelled, second_ran.load());
    });
    CHECK(std::get<0>(r) == 1);
    CHECK(std::get<1>(r));
    CHECK_FALSE(std::get<2>(r));
}

TEST_CASE("an exception in spawn_blocking becomes a join_error", "[task][blocking]") {
    auto rt = weft::test::make_runtime();
    bool ok = rt.block_on([] {
        auto h = weft::spawn_blocking([]() -> int { throw std::runtime_error("blocking failed"); });
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_exception();
        }
        return false;
    });
    CHECK(ok);
}
