// weft::scoped and weft::offload: borrowing the caller's locals, first exception,
// cancellation and the wait for children.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;

// ---- scoped -----------------------------------------------------------------------------

TEST_CASE("scoped: 100 children borrow a local vector by reference", "[concurrency][scoped]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        std::vector<int> squares(100, -1);
        int ret = weft::scoped([&](weft::scope& s) {
            for (int i = 0; i < 100; ++i) {
                s.spawn([&squares, i] {
                    weft::sleep_for(std::chrono::microseconds(100 * (i % 7)));
                    squares[i] = i * i;
                });
            }
            return 5;
        });
        bool all = true;
        for (int i = 0; i < 100; ++i) all = all && squares[i] == i * i;
        return std::make_pair(all, ret);
    });
    CHECK(r.first);  // every child ended before scoped returned
    CHECK(r.second == 5);
}

TEST_CASE("scoped: children are joinable and finished when scoped returns",
          "[concurrency][scoped]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::join_handle<int> kept;
        int joined = 0;
        weft::scoped([&](weft::scope& s) {
            auto a = s.spawn([] { return 20; });
            kept = s.spawn([] {
                weft::sleep_for(5ms);
                return 22;
            });
            s.spawn([] { weft::sleep_for(2ms); });  // dropped: still waited for
            joined = a.join();
        });
        bool finished = kept.is_finished();
        return std::make_tuple(joined, finished, kept.join());
    });
    CHECK(std::get<0>(r) == 20);
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == 22);
}

TEST_CASE("scoped: a child's exception cancels the others and f, and is rethrown",
          "[concurrency][scoped]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        std::atomic<bool> f_went_on{false};
        weft::join_handle<void> failing;
        std::string what;
        long alive_at_catch = -1;
        auto t0 = std::chrono::steady_clock::now();
        try {
            weft::scoped([&](weft::scope& s) {
                lifetime_counter in_f;
                for (int i = 0; i < 5; ++i) {
                    s.spawn([] {
                        lifetime_counter g;
                        weft::sleep_for(1h);
                    });
                }
                failing = s.spawn([] {
                    weft::sleep_for(3ms);
                    throw std::runtime_error("child failed");
                });
                weft::sleep_for(1h);  // cancelled by the child's failure
                f_went_on = true;
            });
        } catch (const std::runtime_error& e) {
            what = e.what();
            alive_at_catch = lifetime_counter::alive.load();
        }
        bool handle_cancelled = false;
        try {
            failing.join();
        } catch (const weft::join_error& e) {
            handle_cancelled = e.is_cancelled();
        }
        return std::make_tuple(what, alive_at_catch, f_went_on.load(), handle_cancelled,
                               std::chrono::steady_clock::now() - t0);
    });
    CHECK(std::get<0>(r) == "child failed");
    CHECK(std::get<1>(r) == 0);
    CHECK_FALSE(std::get<2>(r));
    CHECK(std::get<3>(r));
    CHECK(std::get<4>(r) < 5s);
}

TEST_CASE("scoped: f's exception cancels the children and is rethrown", "[concurrency][scoped]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        try {
            weft::scoped([](weft::scope& s) {
                for (int i = 0; i < 3; ++i) {
                    s.spawn([] {
                        lifetime_counter g;
                        weft::sleep_for(1h);
                    });
                }
                weft::sleep_for(2ms);
                throw std::logic_error("f failed");
            });
        } catch (const std::logic_error& e) {
            return std::make_pair(std::string(e.what()), lifetime_counter::alive.load());
        }
        return std::make_pair(std::string(), -1L);
    });
    CHECK(r.first == "f failed");
    CHECK(r.second == 0);
}

TEST_CASE("scoped: the first of several failures wins", "[concurrency][scoped]") {
    auto rt = weft::test::make_runtime();
    std::string what = rt.block_on([] {
        try {
            weft::scoped([](weft::scope& s) {
                s.spawn([] { throw std::runtime_error("first"); });
                s.spawn([] {
                    try {
                        weft::sleep_for(1h);
                    } catch (const weft::task_cancelled&) {
                        throw std::runtime_error("second, while cancelled");
                    }
                });
            });
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string();
    });
    CHECK(what == "first");
}

TEST_CASE("scoped: aborting the caller cancels the children and still waits",
          "[concurrency][scoped]") {
    auto rt = weft::test::make_runtime();
    std::atomic<int> started{0};
    std::atomic<int> cleaned{0};
    auto r = rt.block_on([&] {
        auto h = weft::spawn([&] {
            weft::scoped([&](weft::scope& s) {
                for (int i = 0; i < 3; ++i) {
                    s.spawn([&] {
                        started++;
                        try {
                            weft::sleep_for(1h);
                        } catch (const weft::task_cancelled&) {
                            weft::this_task::shield shield;
                            weft::sleep_for(20ms);  // slow cleanup scoped must wait for
                            cleaned++;
                            throw;
                        }
                    });
                }
            });
        });
        while (started.load() < 3) weft::sleep_for(1ms);
        h.abort();
        bool cancelled = false;
        try {
            h.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        return std::make_pair(cancelled, cleaned.load());
    });
    CHECK(r.first);
    CHECK(r.second == 3);
}

TEST_CASE("scoped: children may spawn into the scope", "[concurrency][scoped]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        std::atomic<int> count{0};
        weft::scoped([&](weft::scope& s) {
            for (int i = 0; i < 4; ++i) {
                s.spawn([&s, &count] {
                    for (int j = 0; j < 4; ++j) {
                        s.spawn([&count] {
                            weft::sleep_for(1ms);
                            count++;
                        });
                    }
                    count++;
                });
            }
        });
        return count.load();
    });
    CHECK(r == 20);
}

TEST_CASE("scoped on a blocking-pool thread", "[concurrency][scoped]") {
    auto rt = weft::test::make_runtime();
    int sum = rt.spawn_blocking([] {
                    std::atomic<int> s{0};
                    weft::scoped([&](weft::scope& sc) {
                        for (int i = 1; i <= 10; ++i) {
                            sc.spawn([&s, i] {
                                weft::sleep_for(1ms);
                                s += i;
                            });
                        }
                    });
                    return s.load();
                }).join();
    CHECK(sum == 55);
}

TEST_CASE("scoped: many children, repeatedly", "[concurrency][scoped][stress]") {
    auto rt = weft::test::make_runtime();
    const int rounds = static_cast<int>(weft::test::scaled(50));
    auto ok = rt.block_on([rounds] {
        for (int r = 0; r < rounds; ++r) {
            std::vector<int> v(200, 0);
            weft::scoped([&](weft::scope& s) {
                for (int i = 0; i < 200; ++i) {
                    s.spawn([&v, i] {
                        if (i % 3 == 0) weft::yield_now();
                        v[i] = i;
                    });
                }
            });
            for (int i = 0; i < 200; ++i) {
                if (v[i] != i) return false;
            }
        }
        return true;
    });
    CHECK(ok);
}

// ---- offload ----------------------------------------------------------------------------

TEST_CASE("offload runs f on the blocking pool and returns its value", "[concurrency][offload]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto worker_thread = weft::test::current_thread_id();
        return weft::offload([worker_thread] {
            return std::make_pair(weft::test::current_thread_id() != worker_thread,
                                  weft::this_task::id() == 0);
        });
    });
    CHECK(r.first);
    CHECK(r.second);  // not a task: free to block
}

TEST_CASE("offload: f borrows the caller's locals by reference", "[concurrency][offload]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        std::vector<int> v;
        std::string s = "abc";
        weft::offload([&] {
            for (int i = 0; i < 1000; ++i) v.push_back(i);
            s += "def";
        });
        return std::make_pair(v.size(), s);
    });
    CHECK(r.first == 1000);
    CHECK(r.second == "abcdef");
}

TEST_CASE("offload: f's exception is rethrown as it was", "[concurrency][offload]") {
    auto rt = weft::test::make_runtime();
    std::string what = rt.block_on([] {
        try {
            weft::offload([]() -> int { throw std::invalid_argument("blocking failure"); });
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string();
    });
    CHECK(what == "blocking failure");
}

TEST_CASE("offload: an abort waits for f to finish, then throws task_cancelled",
          "[concurrency][offload]") {
    auto rt = weft::test::make_runtime();
    std::atomic<bool> f_started{false};
    std::atomic<bool> f_finished{false};
    auto r = rt.block_on([&] {
        auto h = weft::spawn([&] {
            std::vector<int> borrowed;
            weft::offload([&] {
                f_started = true;
                std::this_thread::sleep_for(50ms);
                borrowed.push_back(1);  // the caller's frame is still alive
                f_finished = true;
            });
            return 0;
        });
        while (!f_started) weft::sleep_for(1ms);
        h.abort();
        bool cancelled = false;
        try {
            h.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        return std::make_pair(cancelled, f_finished.load());
    });
    CHECK(r.first);
    CHECK(r.second);  // the task ended only after f did
}

TEST_CASE("offload on a plain thread of the runtime, and outside one", "[concurrency][offload]") {
    CHECK_THROWS_AS(weft::offload([] { return 1; }), weft::no_runtime);
    auto rt = weft::test::make_runtime();
    int v = rt.spawn_blocking([] { return weft::offload([] { return 6; }); }).join();
    CHECK(v == 6);
}

TEST_CASE("offload from many tasks at once", "[concurrency][offload][stress]") {
    auto rt = weft::test::make_runtime();
    const int n = static_cast<int>(weft::test::scaled(200));
    auto sum = rt.block_on([n] {
        weft::join_set<int> set;
        for (int i = 0; i < n; ++i) {
            set.spawn([i] { return weft::offload([i] { return i; }); });
        }
        long s = 0;
        while (auto v = set.join_next()) s += *v;
        return s;
    });
    CHECK(sum == static_cast<long>(n) * (n - 1) / 2);
}
