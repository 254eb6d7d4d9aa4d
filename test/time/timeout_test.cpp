// weft::timeout: value vs elapsed, unwinding before elapsed, nesting, and timeouts around
// join/select/scoped/offload.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;

namespace {
std::chrono::steady_clock::duration since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::steady_clock::now() - t0;
}
}  // namespace

TEST_CASE("timeout returns f's value when f finishes in time", "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        int a = weft::timeout(5s, [] { return 42; });
        std::string b = weft::timeout(5s, [] {
            weft::sleep_for(2ms);
            return std::string("slept");
        });
        bool ran = false;
        weft::timeout(5s, [&] { ran = true; });  // void
        return std::make_tuple(a, b, ran);
    });
    CHECK(std::get<0>(r) == 42);
    CHECK(std::get<1>(r) == "slept");
    CHECK(std::get<2>(r));
}

TEST_CASE("timeout throws elapsed once the deadline passes", "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    auto [threw, took] = rt.block_on([] {
        auto t0 = std::chrono::steady_clock::now();
        try {
            weft::timeout(20ms, [] { weft::sleep_for(1h); });
        } catch (const weft::elapsed&) {
            return std::make_pair(true, since(t0));
        }
        return std::make_pair(false, since(t0));
    });
    CHECK(threw);
    CHECK(took >= 20ms);
    CHECK(took < 5s);
}

TEST_CASE("timeout: f is fully unwound before elapsed is seen", "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        long alive_inside = -1;
        long alive_at_catch = -1;
        try {
            weft::timeout(10ms, [&] {
                lifetime_counter outer;
                {
                    lifetime_counter inner;
                    alive_inside = lifetime_counter::alive.load();
                    weft::sleep_for(1h);
                }
            });
        } catch (const weft::elapsed&) {
            alive_at_catch = lifetime_counter::alive.load();
        }
        return std::make_pair(alive_inside, alive_at_catch);
    });
    CHECK(r.first == 2);
    CHECK(r.second == 0);
}

TEST_CASE("timeout: f's own exception passes through unchanged", "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    std::string what = rt.block_on([] {
        try {
            weft::timeout(1h, [] {
                weft::sleep_for(1ms);
                throw std::runtime_error("from f");
            });
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string();
    });
    CHECK(what == "from f");
}

TEST_CASE("timeout: f that finishes past the deadline without suspending keeps its value",
          "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        int v = weft::timeout(1ms, [] {
            auto t0 = std::chrono::steady_clock::now();
            while (since(t0) < 20ms) {}  // no cancellation point
            return 7;
        });
        // The scope is gone: later cancellation points do not throw.
        weft::sleep_for(2ms);
        weft::yield_now();
        return v;
    });
    CHECK(r == 7);
}

TEST_CASE("timeout with zero, negative and huge durations", "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        int ready = weft::timeout(0ms, [] { return 1; });
        bool zero_elapsed = false;
        try {
            weft::timeout(0ns, [] { weft::sleep_for(1h); });
        } catch (const weft::elapsed&) {
            zero_elapsed = true;
        }
        bool negative_elapsed = false;
        try {
            weft::timeout(-5s, [] { weft::sleep_for(1h); });
        } catch (const weft::elapsed&) {
            negative_elapsed = true;
        }
        int huge = weft::timeout(std::chrono::hours::max(), [] {
            weft::sleep_for(1ms);
            return 3;
        });
        int huge_double = weft::timeout(std::chrono::duration<double>(1e300), [] { return 4; });
        return std::make_tuple(ready, zero_elapsed, negative_elapsed, huge, huge_double);
    });
    CHECK(std::get<0>(r) == 1);
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r) == 3);
    CHECK(std::get<4>(r) == 4);
}

TEST_CASE("nested timeouts: the inner deadline first, reported by the inner timeout",
          "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return weft::timeout(1h, [] {
            std::string seen;
            try {
                weft::timeout(10ms, [] { weft::sleep_for(1h); });
            } catch (const weft::elapsed&) {
                seen = "inner";
            }
            // The outer timeout is still armed and not fired: its region goes on normally.
            weft::sleep_for(5ms);
            return seen + "+outer-ok";
        });
    });
    CHECK(r == "inner+outer-ok");
}

TEST_CASE("nested timeouts: the outer deadline first passes through the inner timeout",
          "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        bool inner_reported = false;
        bool outer_reported = false;
        try {
            weft::timeout(10ms, [&] {
                try {
                    weft::timeout(1h, [] { weft::sleep_for(1h); });
                } catch (const weft::elapsed&) {
                    inner_reported = true;  // must not happen: the deadline is the outer's
                    throw;
                }
            });
        } catch (const weft::elapsed&) {
            outer_reported = true;
        }
        return std::make_pair(inner_reported, outer_reported);
    });
    CHECK_FALSE(r.first);
    CHECK(r.second);
}

TEST_CASE("nested timeouts: both fired, each reported by its owner", "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    // Inner deadline 5 ms, outer 30 ms: the inner fires first and is caught inside the outer
    // region, which then sleeps into the outer deadline.
    auto r = rt.block_on([] {
        int inner = 0;
        int outer = 0;
        try {
            weft::timeout(30ms, [&] {
                try {
                    weft::timeout(5ms, [] { weft::sleep_for(1h); });
                } catch (const weft::elapsed&) {
                    ++inner;
                }
                weft::sleep_for(1h);
            });
        } catch (const weft::elapsed&) {
            ++outer;
        }
        return std::make_pair(inner, outer);
    });
    CHECK(r.first == 1);
    CHECK(r.second == 1);
}

TEST_CASE("timeout: an abort of the task passes through as task_cancelled",
          "[concurrency][timeout]") {
    auto rt = weft::test::make_runtime();
    std::atomic<bool> started{false};
    std::atomic<bool> saw_elapsed{false};
    bool cancelled = rt.block_on([&] {
        auto h = weft::spawn([&] {
            try {
                weft::timeout(1h, [&] {
                    started = true;
                    weft::sleep_for(1h);
                });
            } catch (const weft::elapsed&) {
                saw_elapsed = true;
            }
        });
        while (!started) weft::sleep_for(1ms);
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);
    CHECK_FALSE(saw_elapsed.load());
}

TEST_CASE("timeout around join cancels every branch and waits for them",
          "[concurrency][timeout][join]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        long alive_at_catch = -1;
        bool threw = false;
        try {
            weft::timeout(15ms, [] {
                weft::join(
                    [] {
                        lifetime_counter g;
                        weft::sleep_for(1h);
                    },
                    [] {
                        lifetime_counter g;
                        weft::sleep_for(1h);
                        return 1;
                    });
            });
        } catch (const weft::elapsed&) {
            threw = true;
            alive_at_catch = lifetime_counter::alive.load();
        }
        return std::make_pair(threw, alive_at_catch);
    });
    CHECK(r.first);
    CHECK(r.second == 0);
}

TEST_CASE("timeout around select cancels every branch and waits for them",
          "[concurrency][timeout][select]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        try {
            weft::timeout(15ms, [] {
                return weft::select(
                    [] {
                        lifetime_counter g;
                        weft::sleep_for(1h);
                    },
                    [] {
                        lifetime_counter g;
                        weft::sleep_for(2h);
                    });
            });
        } catch (const weft::elapsed&) {
            return lifetime_counter::alive.load();
        }
        return -1L;
    });
    CHECK(r == 0);
}

TEST_CASE("timeout around select: a branch winning in time is returned",
          "[concurrency][timeout][select]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return weft::timeout(5s, [] {
            return weft::select([] { weft::sleep_for(1h); },
                                [] {
                                    weft::sleep_for(2ms);
                                    return 9;
                                });
        });
    });
    REQUIRE(r.index() == 1);
    CHECK(std::get<1>(r) == 9);
}

TEST_CASE("timeout inside a join branch is the branch's own", "[concurrency][timeout][join]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return weft::join(
            [] {
                try {
                    weft::timeout(5ms, [] { weft::sleep_for(1h); });
                    return false;
                } catch (const weft::elapsed&) {
                    return true;
                }
            },
            [] {
                weft::sleep_for(20ms);
                return 2;
            });
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r) == 2);
}

TEST_CASE("timeout around scoped cancels the children and waits",
          "[concurrency][timeout][scoped]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        try {
            weft::timeout(15ms, [] {
                weft::scoped([](weft::scope& s) {
                    for (int i = 0; i < 4; ++i) {
                        s.spawn([] {
                            lifetime_counter g;
                            weft::sleep_for(1h);
                        });
                    }
                    weft::sleep_for(1h);
                });
            });
        } catch (const weft::elapsed&) {
            return lifetime_counter::alive.load();
        }
        return -1L;
    });
    CHECK(r == 0);
}

TEST_CASE("timeout around offload throws elapsed only after f finished",
          "[concurrency][timeout][offload]") {
    auto rt = weft::test::make_runtime();
    std::atomic<bool> f_done{false};
    auto r = rt.block_on([&] {
        auto t0 = std::chrono::steady_clock::now();
        try {
            weft::timeout(5ms, [&] {
                weft::offload([&] {
                    std::this_thread::sleep_for(60ms);
                    f_done = true;
                });
            });
        } catch (const weft::elapsed&) {
            return std::make_pair(f_done.load(), since(t0));
        }
        return std::make_pair(false, since(t0));
    });
    CHECK(r.first);
    CHECK(r.second >= 60ms);
}

TEST_CASE("timeout outside a task throws no_runtime", "[concurrency][timeout]") {
    CHECK_THROWS_AS(weft::timeout(1s, [] { return 1; }), weft::no_runtime);
    auto rt = weft::test::make_runtime();
    // A blocking-pool thread is in the runtime but not a task: still no cancellation points.
    bool threw = rt.spawn_blocking([] {
                       try {
                           weft::timeout(1s, [] {});
                       } catch (const weft::no_runtime&) {
                           return true;
                       }
                       return false;
                   }).join();
    CHECK(threw);
}

TEST_CASE("many timeouts in a row leave nothing behind", "[concurrency][timeout][stress]") {
    auto rt = weft::test::make_runtime();
    const int n = static_cast<int>(weft::test::scaled(2000));
    auto r = rt.block_on([n] {
        int values = 0;
        int elapsed = 0;
        for (int i = 0; i < n; ++i) {
            if (i % 50 == 0) {
                try {
                    weft::timeout(0ms, [] { weft::sleep_for(1h); });
                } catch (const weft::elapsed&) {
                    ++elapsed;
                }
            } else {
                values += weft::timeout(1h, [] {
                    weft::yield_now();
                    return 1;
                });
            }
        }
        // No stale deadline strikes later.
        weft::sleep_for(5ms);
        return std::make_pair(values, elapsed);
    });
    CHECK(r.second == (n + 49) / 50);
    CHECK(r.first == n - r.second);
}

TEST_CASE("timeouts in many tasks at once", "[concurrency][timeout][stress]") {
    auto rt = weft::test::make_runtime();
    const int n = static_cast<int>(weft::test::scaled(1000));
    std::atomic<int> elapsed{0};
    std::atomic<int> finished{0};
    rt.block_on([&] {
        weft::join_set<void> set;
        for (int i = 0; i < n; ++i) {
            set.spawn([&, i] {
                try {
                    weft::timeout(i % 2 ? 1ms : 1h, [&] { weft::sleep_for(i % 2 ? 1h : 1ms); });
                    finished++;
                } catch (const weft::elapsed&) {
                    elapsed++;
                }
            });
        }
        while (set.join_next()) {}
    });
    CHECK(elapsed.load() == n / 2);
    CHECK(finished.load() == n - n / 2);
}

TEST_CASE("timeout_at on the paused clock: the deadline is an instant, not a duration",
          "[concurrency][timeout][paused]") {
    auto rt = weft::builder::current_thread().start_paused(true).build();
    auto r = rt.block_on([] {
        const auto start = weft::time::now();
        const auto deadline = start + 10s;
        // Steps share one deadline: 4 s + 4 s fit, the third step's 4 s do not.
        int steps = 0;
        bool elapsed = false;
        try {
            for (int i = 0; i < 3; ++i) {
                weft::timeout_at(deadline, [] { weft::sleep_for(4s); });
                ++steps;
            }
        } catch (const weft::elapsed&) {
            elapsed = true;
        }
        auto fired_at = weft::time::now() - start;
        int value = weft::timeout_at(weft::time::now() + 1s, [] {
            weft::sleep_for(999ms);
            return 7;
        });
        return std::make_tuple(steps, elapsed, fired_at, value);
    });
    CHECK(std::get<0>(r) == 2);
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == 10s);  // exactly at the deadline: the paused clock jumps there
    CHECK(std::get<3>(r) == 7);
}

TEST_CASE("timeout_at with a past deadline and time_point::max()",
          "[concurrency][timeout][paused]") {
    auto rt = weft::builder::current_thread().start_paused(true).build();
    auto r = rt.block_on([] {
        auto past = weft::time::now() - 1s;
        // No cancellation point inside: f's value counts, as with timeout.
        int quick = weft::timeout_at(past, [] { return 1; });
        bool elapsed = false;
        try {
            weft::timeout_at(past, [] { weft::sleep_for(1ms); });
        } catch (const weft::elapsed&) {
            elapsed = true;
        }
        auto start = weft::time::now();
        weft::timeout_at(std::chrono::steady_clock::time_point::max(),
                         [] { weft::sleep_for(24h); });
        return std::make_tuple(quick, elapsed, weft::time::now() - start);
    });
    CHECK(std::get<0>(r) == 1);
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == 24h);
}

TEST_CASE("timeout_at nested in timeout: each elapsed reported by its owner",
          "[concurrency][timeout][paused]") {
    auto rt = weft::builder::current_thread().start_paused(true).build();
    auto r = rt.block_on([] {
        auto start = weft::time::now();
        bool inner = false, outer = false;
        try {
            weft::timeout(5s, [&] {
                try {
                    weft::timeout_at(start + 2s, [] { weft::sleep_for(1h); });
                } catch (const weft::elapsed&) {
                    inner = true;
                }
                weft::sleep_for(1h);
            });
        } catch (const weft::elapsed&) {
            outer = true;
        }
        return std::make_tuple(inner, outer, weft::time::now() - start);
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == 5s);
}

TEST_CASE("timeout_at outside a task throws no_runtime", "[concurrency][timeout]") {
    CHECK_THROWS_AS(weft::timeout_at(std::chrono::steady_clock::now() + 1s, [] { return 1; }),
                    weft::no_runtime);
}
