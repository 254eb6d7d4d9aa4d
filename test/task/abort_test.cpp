#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;

TEST_CASE("abort of a task parked in sleep: cancelled, destructors ran", "[task][abort]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    std::atomic<bool> started{false};
    auto r = rt.block_on([&] {
        auto h = weft::spawn([&] {
            lifetime_counter guard;
            started = true;
            weft::sleep_for(1h);
        });
        while (!started) weft::sleep_for(1ms);
        auto t0 = std::chrono::steady_clock::now();
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return std::make_pair(e.is_cancelled() && !e.exception(),
                                  std::chrono::steady_clock::now() - t0 < 5s);
        }
        return std::make_pair(false, false);
    });
    CHECK(r.first);
    CHECK(r.second);
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("a task aborted before it first runs never calls its function", "[task][abort]") {
    auto rt = weft::builder::current_thread().build();
    lifetime_counter::alive = 0;
    std::atomic<bool> called{false};
    bool cancelled = rt.block_on([&] {
        auto h = weft::spawn([&, g = lifetime_counter()] { called = true; });
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);
    CHECK_FALSE(called.load());
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("abort is sticky: every later cancellation point throws", "[task][abort]") {
    auto rt = weft::test::make_runtime();
    int throws = rt.block_on([] {
        auto h = weft::spawn([] {
            int n = 0;
            for (int i = 0; i < 3; ++i) {
                try {
                    weft::sleep_for(1h);
                } catch (const weft::task_cancelled&) {
                    ++n;
                }
            }
            try {
                weft::yield_now();
            } catch (const weft::task_cancelled&) {
                ++n;
            }
            return n;  // swallowed: the task returns normally and yields its value
        });
        weft::sleep_for(2ms);
        h.abort();
        return h.join();
    });
    CHECK(throws == 4);
}

TEST_CASE("a shield defers cancellation until it ends", "[task][abort]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        std::atomic<bool> in_shield{false};
        auto h = weft::spawn([&] {
            int shielded_sleeps = 0;
            {
                weft::this_task::shield s;
                in_shield = true;
                // Cancellation points inside the shield do not throw, even once aborted.
                while (!weft::this_task::is_cancelled()) {
                    weft::sleep_for(1ms);
                    ++shielded_sleeps;
                }
                weft::sleep_for(1ms);
                weft::yield_now();
            }
            try {
                weft::yield_now();
            } catch (const weft::task_cancelled&) {
                return shielded_sleeps > 0 ? 1 : 2;
            }
            return 3;
        });
        while (!in_shield) weft::sleep_for(1ms);
        weft::sleep_for(2ms);
        h.abort();
        return h.join();
    });
    CHECK(r == 1);
}

TEST_CASE("abort of a joining task leaves the joined handle intact", "[task][abort]") {
    auto rt = weft::test::make_runtime();
    auto v = rt.block_on([] {
        auto gate = std::make_shared<std::atomic<bool>>(false);
        auto inner = std::make_shared<weft::join_handle<int>>(weft::spawn([gate] {
            while (!gate->load()) weft::sleep_for(1ms);
            return 11;
        }));
        auto joiner = weft::spawn([inner] {
            try {
                return inner->join();
            } catch (const weft::task_cancelled&) {
                return -1;
            }
        });
        weft::sleep_for(2ms);
        joiner.abort();
        int j = joiner.join();
        gate->store(true);
        // The joiner was interrupted; the result is still there for us.
        return std::make_pair(j, inner->join());
    });
    CHECK(v.first == -1);
    CHECK(v.second == 11);
}

TEST_CASE("abort after completion is a no-op", "[task][abort]") {
    auto rt = weft::test::make_runtime();
    int v = rt.block_on([] {
        auto h = weft::spawn([] { return 4; });
        while (!h.is_finished()) weft::yield_now();
        h.abort();
        return h.join();
    });
    CHECK(v == 4);
}

TEST_CASE("abort storm against sleeping tasks: every one unwinds", "[task][abort]") {
    const std::size_t n = weft::test::scaled(5000);
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    std::size_t cancelled = rt.block_on([n] {
        std::vector<weft::join_handle<void>> hs;
        for (std::size_t i = 0; i < n; ++i) {
            hs.push_back(weft::spawn([] {
                lifetime_counter g;
                weft::sleep_for(1h);
            }));
        }
        weft::yield_now();
        for (auto& h : hs) h.abort();
        std::size_t c = 0;
        for (auto& h : hs) {
            try {
                h.join();
            } catch (const weft::join_error& e) {
                c += e.is_cancelled();
            }
        }
        return c;
    });
    CHECK(cancelled == n);
    CHECK(lifetime_counter::alive.load() == 0);
}
