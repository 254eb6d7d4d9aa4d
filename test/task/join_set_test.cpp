// weft::join_set: completion order, join errors, abort_all, detach_all, destruction.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;

namespace {
// Polls `cond` (with a bound) from a task or thread.
template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = 10s) {
    auto t0 = std::chrono::steady_clock::now();
    while (!cond()) {
        if (std::chrono::steady_clock::now() - t0 > limit) return false;
        weft::sleep_for(1ms);
    }
    return true;
}
}  // namespace

TEST_CASE("join_set: an empty set joins nothing", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::join_set<int> ints;
        weft::join_set<void> voids;
        return std::make_tuple(ints.size(), ints.empty(), ints.join_next().has_value(),
                               voids.join_next());
    });
    CHECK(std::get<0>(r) == 0);
    CHECK(std::get<1>(r));
    CHECK_FALSE(std::get<2>(r));
    CHECK_FALSE(std::get<3>(r));
}

TEST_CASE("join_set: join_next returns tasks in the order they end", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    // Task k may end only once the test has joined k-1: the order is that of completion,
    // which differs from the order of spawning.
    auto order = rt.block_on([] {
        std::atomic<int> turn{0};
        weft::join_set<int> set;
        for (int k : {3, 0, 4, 2, 1}) {
            set.spawn([&turn, k] {
                while (turn.load() != k) weft::sleep_for(200us);
                return k;
            });
        }
        std::vector<int> got;
        while (auto v = set.join_next()) {
            got.push_back(*v);
            turn++;
        }
        return got;
    });
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("join_set: size counts tasks until they are joined", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::join_set<int> set;
        set.spawn([] { return 1; });
        set.spawn([] { return 2; });
        weft::sleep_for(5ms);  // both ended, not joined yet
        auto before = set.size();
        int sum = *set.join_next();
        auto middle = set.size();
        sum += *set.join_next();
        return std::make_tuple(before, middle, set.size(), set.empty(), sum);
    });
    CHECK(std::get<0>(r) == 2);
    CHECK(std::get<1>(r) == 1);
    CHECK(std::get<2>(r) == 0);
    CHECK(std::get<3>(r));
    CHECK(std::get<4>(r) == 3);
}

TEST_CASE("join_set: a failed task is removed and its join_error thrown",
          "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::join_set<int> set;
        set.spawn([]() -> int { throw std::runtime_error("bad task"); });
        std::string what;
        bool is_exception = false;
        try {
            set.join_next();
        } catch (const weft::join_error& e) {
            is_exception = e.is_exception();
            try {
                std::rethrow_exception(e.exception());
            } catch (const std::runtime_error& inner) {
                what = inner.what();
            }
        }
        return std::make_tuple(is_exception, what, set.size(), set.join_next().has_value());
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r) == "bad task");
    CHECK(std::get<2>(r) == 0);
    CHECK_FALSE(std::get<3>(r));
}

TEST_CASE("join_set: an aborted task is removed and reported cancelled",
          "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        weft::join_set<int> set;
        auto ah = set.spawn([] {
            lifetime_counter g;
            weft::sleep_for(1h);
            return 1;
        });
        set.spawn([] {
            weft::sleep_for(30ms);
            return 2;
        });
        weft::sleep_for(2ms);
        ah.abort();
        bool cancelled = false;
        try {
            set.join_next();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled() && e.id() == ah.id();
        }
        auto left = set.size();
        int second = *set.join_next();
        return std::make_tuple(cancelled, left, second, ah.is_finished());
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r) == 1);
    CHECK(std::get<2>(r) == 2);
    CHECK(std::get<3>(r));
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("join_set: abort_all cancels every task; each is still joined",
          "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    auto r = rt.block_on([] {
        weft::join_set<void> set;
        for (int i = 0; i < 10; ++i) {
            set.spawn([] {
                lifetime_counter g;
                weft::sleep_for(1h);
            });
        }
        weft::sleep_for(2ms);
        set.abort_all();
        auto size_after_abort = set.size();
        int cancelled = 0;
        for (;;) {
            try {
                if (!set.join_next()) break;
            } catch (const weft::join_error& e) {
                cancelled += e.is_cancelled();
            }
        }
        return std::make_pair(size_after_abort, cancelled);
    });
    CHECK(r.first == 10);
    CHECK(r.second == 10);
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("join_set: detach_all empties the set and lets the tasks run on",
          "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    std::atomic<int> finished{0};
    auto r = rt.block_on([&] {
        weft::join_set<void> set;
        for (int i = 0; i < 5; ++i) {
            set.spawn([&] {
                weft::sleep_for(10ms);
                finished++;
            });
        }
        set.detach_all();
        auto size = set.size();
        bool joined = set.join_next();
        bool all = eventually([&] { return finished.load() == 5; });
        return std::make_tuple(size, joined, all);
    });
    CHECK(std::get<0>(r) == 0);
    CHECK_FALSE(std::get<1>(r));
    CHECK(std::get<2>(r));
}

TEST_CASE("join_set: destroying the set aborts the tasks still inside", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    std::atomic<int> completed{0};
    std::atomic<int> started{0};
    bool all_gone = rt.block_on([&] {
        {
            weft::join_set<int> set;
            for (int i = 0; i < 8; ++i) {
                set.spawn([&] {
                    lifetime_counter g;
                    started++;
                    weft::sleep_for(1h);
                    completed++;
                    return 0;
                });
            }
            eventually([&] { return started.load() == 8; });
        }  // the set is destroyed: it does not wait, the tasks unwind on their own
        return eventually([] { return lifetime_counter::alive.load() == 0; });
    });
    CHECK(all_gone);
    CHECK(completed.load() == 0);
}

TEST_CASE("join_set: join_next is a cancel-safe cancellation point", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        std::atomic<bool> release{false};
        weft::join_set<int> set;
        set.spawn([&] {
            while (!release) weft::sleep_for(200us);
            return 42;
        });
        bool timed_out = false;
        try {
            weft::timeout(5ms, [&] { return set.join_next(); });
        } catch (const weft::elapsed&) {
            timed_out = true;
        }
        auto size_after = set.size();
        release = true;
        auto v = set.join_next();  // nothing was lost
        return std::make_tuple(timed_out, size_after, v.value_or(-1));
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r) == 1);
    CHECK(std::get<2>(r) == 42);
}

TEST_CASE("join_set: join_next under timeouts that expire as tasks end loses no result",
          "[concurrency][join_set]") {
    // A task's node reaches the set's ended list a moment before the task counts as ended,
    // and join_next waits for that moment after it has removed the node. A timeout expiring
    // then used to reach the join that took the result (a cancellation point), which threw
    // and destroyed a result no longer in the set. The tasks end at spread-out moments and the
    // timeouts expire at spread-out moments, so some expire in that wait.
    auto rt = weft::test::make_runtime();
    const std::size_t n = weft::test::scaled(4000);
    auto r = rt.block_on([n] {
        weft::join_set<std::size_t> set;
        std::vector<int> seen(n, 0);
        std::size_t got = 0;
        std::size_t timeouts = 0;
        auto deadline = std::chrono::steady_clock::now() + 60s;
        for (std::size_t next = 0; got < n && std::chrono::steady_clock::now() < deadline;) {
            while (next < n && set.size() < 32) {
                std::size_t i = next++;
                set.spawn([i] {
                    weft::sleep_for(std::chrono::microseconds(i * 7 % 200));
                    return i;
                });
            }
            try {
                auto v = weft::timeout(std::chrono::microseconds(got * 13 % 150 + 1),
                                       [&] { return set.join_next(); });
                if (v && *v < n && seen[*v]++ == 0) ++got;
            } catch (const weft::elapsed&) {
                ++timeouts;
            }
            if (next == n && set.empty()) break;  // a result went missing: stop waiting
        }
        return std::make_tuple(got, timeouts);
    });
    INFO("timeouts: " << std::get<1>(r));
    CHECK(std::get<0>(r) == n);
}

TEST_CASE("join_set: aborting the owner while it waits", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    lifetime_counter::alive = 0;
    std::atomic<bool> waiting{false};
    bool cancelled = rt.block_on([&] {
        auto h = weft::spawn([&] {
            weft::join_set<void> set;
            set.spawn([] {
                lifetime_counter g;
                weft::sleep_for(1h);
            });
            waiting = true;
            set.join_next();
        });
        while (!waiting) weft::sleep_for(1ms);
        weft::sleep_for(2ms);
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);
    // The owner's set was destroyed while unwinding: its task was aborted.
    CHECK(rt.block_on([] { return eventually([] { return lifetime_counter::alive == 0; }); }));
}

TEST_CASE("join_set: move-only values and a moved set", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::join_set<std::unique_ptr<int>> a;
        a.spawn([] { return std::make_unique<int>(4); });
        weft::join_set<std::unique_ptr<int>> b(std::move(a));
        b.spawn([] { return std::make_unique<int>(5); });
        int sum = 0;
        while (auto v = b.join_next()) sum += **v;
        a = std::move(b);
        a.spawn([] { return std::make_unique<int>(100); });
        sum += **a.join_next();
        return sum;
    });
    CHECK(r == 109);
}

TEST_CASE("join_set: spawning outside a runtime throws no_runtime", "[concurrency][join_set]") {
    weft::join_set<int> set;
    CHECK_THROWS_AS(set.spawn([] { return 1; }), weft::no_runtime);
    CHECK(set.size() == 0);
    CHECK_FALSE(set.join_next().has_value());
}

TEST_CASE("join_set: many tasks, every result once", "[concurrency][join_set][stress]") {
    auto rt = weft::test::make_runtime();
    const int n = static_cast<int>(weft::test::scaled(20'000));
    auto r = rt.block_on([n] {
        weft::join_set<long> set;
        for (int i = 0; i < n; ++i) {
            set.spawn([i] {
                if (i % 7 == 0) weft::yield_now();
                return static_cast<long>(i);
            });
        }
        long sum = 0;
        long count = 0;
        while (auto v = set.join_next()) {
            sum += *v;
            ++count;
        }
        return std::make_pair(sum, count);
    });
    CHECK(r.second == n);
    CHECK(r.first == static_cast<long>(n) * (n - 1) / 2);
}

TEST_CASE("join_set used from a plain thread of the runtime", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    int sum = rt.spawn_blocking([] {
                    weft::join_set<int> set;
                    for (int i = 1; i <= 4; ++i) {
                        set.spawn([i] {
                            weft::sleep_for(1ms);
                            return i;
                        });
                    }
                    int s = 0;
                    while (auto v = set.join_next()) s += *v;
                    return s;
                }).join();
    CHECK(sum == 10);
}

TEST_CASE("join_set: try_join_next takes ended tasks without waiting", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::join_set<int> set;
        bool empty_none = !set.try_join_next().has_value();
        std::atomic<bool> release{false};
        auto slow = set.spawn([&] {
            while (!release) weft::sleep_for(200us);
            return 2;
        });
        auto fast = set.spawn([] { return 1; });
        bool fast_ended = eventually([&] { return fast.is_finished(); });
        auto first = set.try_join_next();   // the fast task, at once
        auto second = set.try_join_next();  // the slow one still runs: nothing
        auto size_mid = set.size();
        release = true;
        bool slow_ended = eventually([&] { return slow.is_finished(); });
        auto third = set.try_join_next();
        return std::make_tuple(empty_none, fast_ended, first.value_or(-1), second.has_value(),
                               size_mid, slow_ended, third.value_or(-1), set.empty());
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == 1);
    CHECK_FALSE(std::get<3>(r));
    CHECK(std::get<4>(r) == 1);
    CHECK(std::get<5>(r));
    CHECK(std::get<6>(r) == 2);
    CHECK(std::get<7>(r));
}

TEST_CASE("join_set: try_join_next reports failures and aborts; join_set<void>",
          "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        weft::join_set<int> ints;
        auto bad = ints.spawn([]() -> int { throw std::runtime_error("bad task"); });
        eventually([&] { return bad.is_finished(); });
        bool is_exception = false;
        try {
            ints.try_join_next();
        } catch (const weft::join_error& e) {
            is_exception = e.is_exception();
        }
        weft::join_set<void> voids;
        bool none_yet = !voids.try_join_next();
        auto sleeper = voids.spawn([] { weft::sleep_for(1h); });
        bool running_none = !voids.try_join_next();
        sleeper.abort();
        eventually([&] { return sleeper.is_finished(); });
        bool is_cancelled = false;
        try {
            voids.try_join_next();
        } catch (const weft::join_error& e) {
            is_cancelled = e.is_cancelled();
        }
        auto ok = voids.spawn([] {});
        eventually([&] { return ok.is_finished(); });
        bool ok_taken = voids.try_join_next();
        return std::make_tuple(is_exception, ints.empty(), none_yet, running_none, is_cancelled,
                               ok_taken, voids.empty());
    });
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r));
    CHECK(std::get<3>(r));
    CHECK(std::get<4>(r));
    CHECK(std::get<5>(r));
    CHECK(std::get<6>(r));
}

TEST_CASE("join_set: try_join_next is not a cancellation point", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    // The owner aborts itself once its member has ended; join_next would throw
    // task_cancelled there, try_join_next must hand over the value.
    auto r = rt.block_on([] {
        std::atomic<bool> have_handle{false};
        weft::abort_handle self;
        auto owner = weft::spawn([&] {
            weft::join_set<int> set;
            auto member = set.spawn([] { return 7; });
            if (!eventually([&] { return member.is_finished() && have_handle.load(); })) {
                return -2;
            }
            self.abort();
            if (!weft::this_task::is_cancelled()) return -3;
            return set.try_join_next().value_or(-1);
        });
        self = owner.get_abort_handle();
        have_handle = true;
        return owner.join();
    });
    CHECK(r == 7);
}

TEST_CASE("join_set: try_join_next from a plain thread", "[concurrency][join_set]") {
    auto rt = weft::test::make_runtime();
    weft::join_set<int> set;
    int got = 0;
    {
        auto a = rt.block_on([&] { return set.spawn([] { return 5; }); });
        auto t0 = std::chrono::steady_clock::now();
        while (!a.is_finished() && std::chrono::steady_clock::now() - t0 < 10s) {
            std::this_thread::sleep_for(1ms);
        }
        got = set.try_join_next().value_or(-1);
    }
    CHECK(got == 5);
    CHECK(set.empty());
}
