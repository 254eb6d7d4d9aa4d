// weft::join and weft::select: results, branches as fibers of the caller, the first
// exception / the winner, cancellation of the others and the wait for them.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;

namespace {
struct custom_error {
    int code;
};

// A value whose destruction is counted.
struct counted {
    lifetime_counter c;
    int v = 0;
};
}  // namespace

// ---- join -------------------------------------------------------------------------------

TEST_CASE("join returns every branch's value in argument order", "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return weft::join(
            [] {
                weft::sleep_for(3ms);
                return 1;
            },
            [] { return std::string("two"); }, [] { weft::yield_now(); });
    });
    static_assert(std::is_same_v<decltype(r), std::tuple<int, std::string, std::monostate>>);
    CHECK(std::get<0>(r) == 1);
    CHECK(std::get<1>(r) == "two");
}

TEST_CASE("join of nothing is an empty tuple", "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] { return weft::join(); });
    static_assert(std::is_same_v<decltype(r), std::tuple<>>);
}

TEST_CASE("join branches run concurrently", "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    // Each branch waits for the other: only concurrent branches can finish.
    auto r = rt.block_on([] {
        std::atomic<bool> a{false};
        std::atomic<bool> b{false};
        return weft::join(
            [&] {
                a = true;
                while (!b) weft::sleep_for(1ms);
                return 'a';
            },
            [&] {
                b = true;
                while (!a) weft::sleep_for(1ms);
                return 'b';
            });
    });
    CHECK(std::get<0>(r) == 'a');
    CHECK(std::get<1>(r) == 'b');
}

TEST_CASE("join branches report the caller's id and stay on one worker", "[concurrency][join]") {
    auto rt = weft::test::make_runtime(4);
    auto r = rt.block_on([] {
        auto caller = weft::this_task::id();
        auto branch = [] {
            auto id = weft::this_task::id();
            auto th = weft::test::current_thread_id();
            bool same_thread = true;
            for (int i = 0; i < 20; ++i) {
                weft::sleep_for(100us);
                weft::yield_now();
                same_thread = same_thread && weft::test::current_thread_id() == th;
            }
            return std::make_tuple(id, th, same_thread);
        };
        auto [a, b, c] = weft::join(branch, branch, branch);
        return std::make_tuple(caller, a, b, c);
    });
    auto [caller, a, b, c] = r;
    CHECK(caller != 0);
    CHECK(std::get<0>(a) == caller);
    CHECK(std::get<0>(b) == caller);
    CHECK(std::get<0>(c) == caller);
    CHECK(std::get<2>(a));
    CHECK(std::get<2>(b));
    CHECK(std::get<2>(c));
    CHECK(std::get<1>(a) == std::get<1>(b));  // interleaved on one worker, never in parallel
    CHECK(std::get<1>(b) == std::get<1>(c));
}

TEST_CASE("join: the first exception cancels the rest, waits, and is rethrown as it was",
          "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        std::atomic<int> others_done{0};
        auto t0 = std::chrono::steady_clock::now();
        int code = 0;
        long alive_at_catch = -1;
        try {
            weft::join(
                [&] {
                    lifetime_counter g;
                    weft::sleep_for(1h);
                    others_done++;
                },
                [] {
                    weft::sleep_for(5ms);
                    throw custom_error{17};
                },
                [&] {
                    lifetime_counter g;
                    weft::sleep_for(2h);
                    others_done++;
                    return 3;
                });
        } catch (const custom_error& e) {
            code = e.code;
            alive_at_catch = lifetime_counter::alive.load();
        }
        return std::make_tuple(code, alive_at_catch, others_done.load(),
                               std::chrono::steady_clock::now() - t0);
    });
    CHECK(std::get<0>(r) == 17);
    CHECK(std::get<1>(r) == 0);  // the others' destructors ran before join threw
    CHECK(std::get<2>(r) == 0);  // and they were cancelled, not finished
    CHECK(std::get<3>(r) < 5s);
}

TEST_CASE("join: a std::exception keeps its type and message", "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    std::string what = rt.block_on([] {
        try {
            weft::join([] { throw std::out_of_range("range!"); }, [] { weft::sleep_for(1h); });
        } catch (const std::out_of_range& e) {
            return std::string(e.what());
        }
        return std::string();
    });
    CHECK(what == "range!");
}

TEST_CASE("join: aborting the caller cancels every branch and waits for them",
          "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    std::atomic<int> started{0};
    std::atomic<bool> cleanup_done{false};
    auto r = rt.block_on([&] {
        auto h = weft::spawn([&] {
            weft::join(
                [&] {
                    lifetime_counter g;
                    started++;
                    weft::sleep_for(1h);
                },
                [&] {
                    try {
                        started++;
                        weft::sleep_for(1h);
                    } catch (const weft::task_cancelled&) {
                        // A slow cleanup: join must wait for it.
                        weft::this_task::shield s;
                        weft::sleep_for(20ms);
                        cleanup_done = true;
                        throw;
                    }
                });
        });
        while (started.load() < 2) weft::sleep_for(1ms);
        h.abort();
        bool cancelled = false;
        try {
            h.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        return std::make_pair(cancelled, cleanup_done.load());
    });
    CHECK(r.first);
    CHECK(r.second);
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("join: a caller aborted before join never starts the branches", "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    std::atomic<bool> ran{false};
    bool cancelled = rt.block_on([&] {
        // The task aborts itself through its own abort handle, so the abort is requested
        // before it reaches join whatever the schedule (a second task doing it would have to
        // run meanwhile, which no schedule promises while this one holds its worker).
        auto own = std::make_shared<weft::abort_handle>();
        auto published = std::make_shared<std::atomic<bool>>(false);
        auto h = weft::spawn([&ran, own, published] {
            auto t0 = std::chrono::steady_clock::now();
            while (!published->load() && std::chrono::steady_clock::now() - t0 < 10s) {
                weft::yield_now();  // lets the spawner publish; nothing aborts us yet
            }
            REQUIRE(published->load());
            own->abort();
            weft::join([&] { ran = true; });
        });
        *own = h.get_abort_handle();
        published->store(true);
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);
    CHECK_FALSE(ran.load());
}

TEST_CASE("join: move-only functions and values", "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto p = std::make_unique<int>(5);
        auto [a, b] = weft::join([p = std::move(p)] { return std::make_unique<int>(*p * 2); },
                                 [] { return std::make_unique<std::string>("s"); });
        return *a + static_cast<int>(b->size());
    });
    CHECK(r == 11);
}

TEST_CASE("join nests inside a branch", "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto id = weft::this_task::id();
        auto [x, y] = weft::join(
            [id] {
                auto [p, q] = weft::join([] { return 1; },
                                         [id] {
                                             weft::sleep_for(1ms);
                                             return weft::this_task::id() == id ? 2 : -100;
                                         });
                return p + q;
            },
            [] { return 10; });
        return x + y;
    });
    CHECK(r == 13);
}

TEST_CASE("join on a blocking-pool thread runs the branches as tasks", "[concurrency][join]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.spawn_blocking([] {
                   return weft::join(
                       [] {
                           weft::sleep_for(1ms);
                           return 1;
                       },
                       [] { return 2; });
               }).join();
    CHECK(std::get<0>(r) == 1);
    CHECK(std::get<1>(r) == 2);
}

TEST_CASE("join outside a runtime throws no_runtime", "[concurrency][join]") {
    CHECK_THROWS_AS(weft::join([] { return 1; }), weft::no_runtime);
}

TEST_CASE("join in a loop leaves nothing behind", "[concurrency][join][stress]") {
    auto rt = weft::test::make_runtime();
    const int n = static_cast<int>(weft::test::scaled(2000));
    lifetime_counter::alive = 0;
    auto sum = rt.block_on([n] {
        long s = 0;
        for (int i = 0; i < n; ++i) {
            auto [a, b] = weft::join(
                [i] {
                    lifetime_counter g;
                    if (i % 3 == 0) weft::yield_now();
                    return i;
                },
                [] { return 1; });
            s += a + b;
        }
        return s;
    });
    CHECK(sum == static_cast<long>(n) * (n - 1) / 2 + n);
    CHECK(lifetime_counter::alive.load() == 0);
    CHECK(weft::test::alive_settled(rt, 1) <= 1);  // the branches are counted out
}

// ---- select -----------------------------------------------------------------------------

TEST_CASE("select: the first branch to end wins; types may repeat", "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return weft::select(
            [] {
                weft::sleep_for(1h);
                return 1;
            },
            [] {
                weft::sleep_for(2ms);
                return 2;
            },
            [] {
                weft::sleep_for(2h);
                return 3;
            });
    });
    static_assert(std::is_same_v<decltype(r), std::variant<int, int, int>>);
    REQUIRE(r.index() == 1);
    CHECK(std::get<1>(r) == 2);
}

TEST_CASE("select: void branches win as std::monostate", "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on(
        [] { return weft::select([] { weft::sleep_for(1h); }, [] { weft::sleep_for(1ms); }); });
    static_assert(std::is_same_v<decltype(r), std::variant<std::monostate, std::monostate>>);
    CHECK(r.index() == 1);
}

TEST_CASE("select: a branch that does not suspend wins over suspended ones",
          "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        // The second branch's deadline is far enough that a slow (TSan, loaded) start of the
        // third branch cannot let it expire first; it still ends well inside the test's bound
        // if the ready branch were wrongly made to wait.
        return weft::select([] { weft::sleep_for(1h); }, [] { weft::sleep_for(2s); },
                            [] { return std::string("now"); });
    });
    REQUIRE(r.index() == 2);
    CHECK(std::get<2>(r) == "now");
}

TEST_CASE("select: losers are cancelled and waited for before select returns",
          "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    std::atomic<bool> slow_cleanup_done{false};
    auto r = rt.block_on([&] {
        auto v = weft::select(
            [] {
                lifetime_counter g;
                weft::sleep_for(1h);
            },
            [&] {
                lifetime_counter g;
                try {
                    weft::sleep_for(1h);
                } catch (const weft::task_cancelled&) {
                    weft::this_task::shield s;
                    weft::sleep_for(20ms);
                    slow_cleanup_done = true;
                    throw;
                }
            },
            [] {
                weft::sleep_for(3ms);
                return 5;
            });
        return std::make_tuple(v.index(), lifetime_counter::alive.load(), slow_cleanup_done.load());
    });
    CHECK(std::get<0>(r) == 2);
    CHECK(std::get<1>(r) == 0);
    CHECK(std::get<2>(r));
}

TEST_CASE("select: a loser is cancelled before it resumes", "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    std::atomic<bool> loser_went_on{false};
    auto r = rt.block_on([&] {
        std::size_t wins = 0;
        for (int i = 0; i < 100; ++i) {
            // The loser yields more times than the fairness bound lets a runnable task wait
            // (a perturbed schedule may run it first, and again before the winner), so the
            // winner has ended, and the loser been aborted, before its last yield returns.
            auto v = weft::select([] { return 0; },
                                  [&] {
                                      for (int k = 0; k < 64; ++k) weft::yield_now();
                                      loser_went_on = true;
                                  });
            wins += v.index() == 0;
        }
        return wins;
    });
    CHECK(r == 100);
    CHECK_FALSE(loser_went_on.load());
}

TEST_CASE("select: a loser that returns anyway has its value destroyed", "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        long during = -1;
        {
            auto v = weft::select(
                [] {
                    weft::sleep_for(2ms);
                    return counted{{}, 1};
                },
                [] {
                    try {
                        weft::sleep_for(1h);
                    } catch (const weft::task_cancelled&) {
                        // swallowed: the branch returns a value anyway
                    }
                    return counted{{}, 2};
                });
            during = lifetime_counter::alive.load();  // only the winner's value is alive
            if (v.index() != 0 || std::get<0>(v).v != 1) during = -2;
        }
        return std::make_pair(during, lifetime_counter::alive.load());
    });
    CHECK(r.first == 1);
    CHECK(r.second == 0);
}

TEST_CASE("select: the winner's exception is rethrown after the losers ended",
          "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        try {
            weft::select(
                [] {
                    lifetime_counter g;
                    weft::sleep_for(1h);
                    return 1;
                },
                [] {
                    weft::sleep_for(2ms);
                    throw custom_error{3};
                    return 2;
                });
        } catch (const custom_error& e) {
            return std::make_pair(e.code, lifetime_counter::alive.load());
        }
        return std::make_pair(0, -1L);
    });
    CHECK(r.first == 3);
    CHECK(r.second == 0);
}

TEST_CASE("select: aborting the caller cancels every branch and waits", "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    std::atomic<int> started{0};
    bool cancelled = rt.block_on([&] {
        auto h = weft::spawn([&] {
            weft::select(
                [&] {
                    lifetime_counter g;
                    started++;
                    weft::sleep_for(1h);
                },
                [&] {
                    lifetime_counter g;
                    started++;
                    weft::sleep_for(1h);
                });
        });
        while (started.load() < 2) weft::sleep_for(1ms);
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("select with a single branch", "[concurrency][select]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] { return weft::select([] { return 'x'; }); });
    CHECK(std::get<0>(r) == 'x');
}

TEST_CASE("select in a loop leaves nothing behind", "[concurrency][select][stress]") {
    auto rt = weft::test::make_runtime();
    const int n = static_cast<int>(weft::test::scaled(2000));
    lifetime_counter::alive = 0;
    auto wins = rt.block_on([n] {
        int first = 0;
        for (int i = 0; i < n; ++i) {
            auto v = weft::select(
                [] {
                    lifetime_counter g;
                    weft::yield_now();
                    return 1;
                },
                [] {
                    lifetime_counter g;
                    weft::sleep_for(1h);
                    return 2;
                });
            first += v.index() == 0;
        }
        return first;
    });
    CHECK(wins == n);
    CHECK(lifetime_counter::alive.load() == 0);
    CHECK(weft::test::alive_settled(rt, 1) <= 1);  // the branches are counted out
}

TEST_CASE("join, select, scoped, join_set, timeout and offload on a current_thread runtime",
          "[concurrency][join][select][current_thread]") {
    auto rt = weft::builder::current_thread().build();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        auto [a, b] = weft::join(
            [] {
                weft::sleep_for(1ms);
                return 1;
            },
            [] { return 2; });
        auto s = weft::select(
            [] {
                lifetime_counter g;
                weft::sleep_for(1h);
            },
            [] {
                weft::yield_now();
                return 3;
            });
        std::vector<int> v(10);
        weft::scoped([&](weft::scope& sc) {
            for (int i = 0; i < 10; ++i) sc.spawn([&v, i] { v[i] = i; });
        });
        weft::join_set<int> set;
        for (int i = 0; i < 10; ++i) set.spawn([i] { return i; });
        int sum = 0;
        while (auto x = set.join_next()) sum += *x;
        bool timed_out = false;
        try {
            weft::timeout(2ms, [] { weft::sleep_for(1h); });
        } catch (const weft::elapsed&) {
            timed_out = true;
        }
        int off = weft::offload([] { return 4; });
        return a + b + static_cast<int>(s.index() == 1) + v[9] + sum + timed_out + off;
    });
    CHECK(r == 1 + 2 + 1 + 9 + 45 + 1 + 4);
    CHECK(lifetime_counter::alive.load() == 0);
}
