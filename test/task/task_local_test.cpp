// weft::task_local: scope nesting, per-task values across suspension, inheritance on spawn,
// sharing with join/select branches and offload.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {
constinit weft::task_local<int> number;                 // not inherited
constinit weft::task_local<std::string> request{true};  // inherited
constinit weft::task_local<std::unique_ptr<int>> owned;
constinit weft::task_local<std::unique_ptr<int>> owned_inherited{true};
}  // namespace

TEST_CASE("task_local: get() without a value throws logic_error", "[concurrency][task_local]") {
    CHECK_THROWS_AS(number.get(), std::logic_error);  // plain thread
    CHECK(number.try_get() == nullptr);
    auto rt = weft::test::make_runtime();
    bool threw = rt.block_on([] {
        try {
            number.get();
        } catch (const std::logic_error&) {
            return true;
        }
        return false;
    });
    CHECK(threw);
}

TEST_CASE("task_local: scopes nest and restore", "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        std::string log;
        int ret = number.scope(1, [&] {
            log += std::to_string(number.get());
            number.scope(2, [&] {
                log += std::to_string(number.get());
                weft::sleep_for(1ms);
                log += std::to_string(number.get());
            });
            log += std::to_string(number.get());
            return 7;
        });
        log += number.try_get() ? "set" : "unset";
        return std::make_pair(log, ret);
    });
    CHECK(r.first == "1221unset");
    CHECK(r.second == 7);
}

TEST_CASE("task_local: an exception leaving scope restores the binding",
          "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return number.scope(1, [] {
            try {
                number.scope(2, [] {
                    weft::yield_now();
                    throw std::runtime_error("x");
                });
            } catch (const std::runtime_error&) {}
            return number.get();
        });
    });
    CHECK(r == 1);
}

TEST_CASE("task_local: get() refers to the bound object", "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    int r = rt.block_on([] {
        return number.scope(10, [] {
            number.get() += 5;
            weft::sleep_for(1ms);
            return number.get();
        });
    });
    CHECK(r == 15);
}

TEST_CASE("task_local: each task sees its own value across suspension and migration",
          "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime(4);
    const int n = static_cast<int>(weft::test::scaled(200));
    std::atomic<int> wrong{0};
    rt.block_on([&] {
        weft::join_set<void> set;
        for (int i = 0; i < n; ++i) {
            set.spawn([&, i] {
                number.scope(i, [&] {
                    for (int k = 0; k < 10; ++k) {
                        weft::sleep_for(100us);
                        weft::yield_now();
                        if (number.get() != i) wrong++;
                    }
                });
            });
        }
        while (set.join_next()) {}
    });
    CHECK(wrong.load() == 0);
}

TEST_CASE("task_local: an inherited value is copied into spawned tasks",
          "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return request.scope("req-1", [] {
            auto child = weft::spawn([] {
                std::string seen = request.get();
                request.get() = "changed-in-child";  // its own copy
                auto grandchild = weft::spawn([] { return request.get(); });
                return seen + "|" + grandchild.join();
            });
            std::string in_child = child.join();
            return in_child + "|" + request.get();
        });
    });
    CHECK(r == "req-1|changed-in-child|req-1");
}

TEST_CASE("task_local: a non-inherited value is not visible in spawned tasks",
          "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return number.scope(5, [] {
            return request.scope("r", [] {
                return weft::spawn([] {
                           return std::make_pair(number.try_get() == nullptr,
                                                 request.try_get() != nullptr);
                       })
                    .join();
            });
        });
    });
    CHECK(r.first);   // number is not inherited
    CHECK(r.second);  // request is
}

TEST_CASE("task_local: values bound after a spawn do not reach that child",
          "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    bool unset = rt.block_on([] {
        std::atomic<bool> go{false};
        auto h = weft::spawn([&] {
            while (!go) weft::sleep_for(200us);
            return request.try_get() == nullptr;
        });
        return request.scope("later", [&] {
            go = true;
            return h.join();
        });
    });
    CHECK(unset);
}

TEST_CASE("task_local: join and select branches share the caller's values",
          "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return number.scope(3, [] {
            int* mine = &number.get();
            auto [a, b] = weft::join([&] { return &number.get() == mine; },
                                     [] {
                                         weft::sleep_for(1ms);
                                         return number.get();
                                     });
            auto s = weft::select([] {
                weft::yield_now();
                return number.get() * 10;
            });
            return std::make_tuple(a, b, std::get<0>(s));
        });
    });
    CHECK(std::get<0>(r));  // the very same object, not a copy
    CHECK(std::get<1>(r) == 3);
    CHECK(std::get<2>(r) == 30);
}

TEST_CASE("task_local: a binding inside a branch stays in that branch",
          "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return number.scope(1, [] {
            std::atomic<bool> bound{false};
            std::atomic<bool> read{false};
            auto [a, b] = weft::join(
                [&] {
                    return number.scope(2, [&] {
                        bound = true;
                        while (!read) weft::sleep_for(200us);
                        return number.get();
                    });
                },
                [&] {
                    while (!bound) weft::sleep_for(200us);
                    int seen = number.get();
                    read = true;
                    return seen;
                });
            return std::make_tuple(a, b, number.get());
        });
    });
    CHECK(std::get<0>(r) == 2);
    CHECK(std::get<1>(r) == 1);
    CHECK(std::get<2>(r) == 1);
}

TEST_CASE("task_local: scoped children inherit copies", "[concurrency][task_local][scoped]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return request.scope("s", [] {
            return number.scope(9, [] {
                std::string a;
                bool number_seen = true;
                weft::scoped([&](weft::scope& sc) {
                    sc.spawn([&] {
                        a = request.get();
                        number_seen = number.try_get() != nullptr;
                    });
                });
                return std::make_pair(a, number_seen);
            });
        });
    });
    CHECK(r.first == "s");
    CHECK_FALSE(r.second);
}

TEST_CASE("task_local: offload's function sees the caller's values",
          "[concurrency][task_local][offload]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return number.scope(11, [] {
            int* mine = &number.get();
            return weft::offload([mine] {
                       bool same = number.try_get() == mine;
                       number.get() = 12;  // the caller's object: it is waiting
                       return same;
                   }) &&
                   number.get() == 12;
        });
    });
    CHECK(r);
}

TEST_CASE("task_local: blocking-pool jobs and plain threads have their own",
          "[concurrency][task_local]") {
    // A plain thread binds for itself.
    int on_thread = number.scope(4, [] { return number.get(); });
    CHECK(on_thread == 4);
    CHECK(number.try_get() == nullptr);
    auto rt = weft::test::make_runtime();
    bool blocking_unset = rt.block_on([] {
        return request.scope("x", [] {
            return weft::spawn_blocking([] { return request.try_get() == nullptr; }).join();
        });
    });
    CHECK(blocking_unset);
}

TEST_CASE("task_local: move-only values; inherited ones must be copyable",
          "[concurrency][task_local]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        int v = owned.scope(std::make_unique<int>(8), [] { return *owned.get(); });
        bool threw = false;
        try {
            owned_inherited.scope(std::make_unique<int>(1), [] {});
        } catch (const std::logic_error&) {
            threw = true;
        }
        return std::make_pair(v, threw);
    });
    CHECK(r.first == 8);
    CHECK(r.second);
    CHECK(owned_inherited.is_inherited());
    CHECK_FALSE(owned.is_inherited());
}
