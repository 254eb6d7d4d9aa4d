// Backtraces: the stack of the task that blocks a worker (printed with the blocked-worker
// warning) and the stacks of parked tasks (runtime::dump(with_backtraces)). The functions
// the backtraces must name have external linkage and are never inlined, so they have a
// symbol of their own.
#include "support/bounded.hpp"
#include "support/harness.hpp"
#include "support/stderr_capture.hpp"

#include <weft/diagnostics/exposition.hpp>
#include <weft/sync/notify.hpp>

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace weft_backtrace_test {

// Holds its worker without suspending (on purpose: that is the stall) until `release` is set
// (if given) or `limit` passed. Returns how long it held, in ms.
[[gnu::noinline]] long hold_the_worker_in_a_named_function(const std::atomic<bool>* release,
                                                           std::chrono::milliseconds limit) {
    const auto start = std::chrono::steady_clock::now();
    while (!(release && release->load()) && std::chrono::steady_clock::now() - start < limit) {
        std::this_thread::sleep_for(1ms);
    }
    asm volatile("" ::: "memory");  // not a tail call: this frame stays on the stack
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - start)
                                 .count());
}

[[gnu::noinline]] void park_in_a_named_sleep() {
    weft::sleep_for(1h);
    asm volatile("" ::: "memory");
}

[[gnu::noinline]] int park_in_a_named_notify_wait(weft::notify& n) {
    n.notified();
    asm volatile("" ::: "memory");
    return 7;
}

// Parks `depth` calls deep (each call keeps its frame: code follows it).
[[gnu::noinline]] int park_deep_in_recursion(int depth) {
    if (depth == 0) {
        weft::sleep_for(1h);
        return 0;
    }
    int r = park_deep_in_recursion(depth - 1);
    asm volatile("" ::: "memory");
    return r + 1;
}

}  // namespace weft_backtrace_test

namespace {

const weft::task_info* find(const std::vector<weft::task_info>& d, weft::task_id id) {
    for (const auto& t : d)
        if (t.id == id) return &t;
    return nullptr;
}

bool mentions(const std::vector<std::string>& frames, const std::string& what) {
    return std::any_of(frames.begin(), frames.end(),
                       [&](const std::string& f) { return f.find(what) != std::string::npos; });
}

// Waits (bounded) until every task in `ids` is suspended.
bool all_suspended(const weft::runtime& rt, const std::vector<weft::task_id>& ids) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
        auto d = rt.dump();
        bool ok = std::all_of(ids.begin(), ids.end(), [&](weft::task_id id) {
            const weft::task_info* t = find(d, id);
            return t && t->state == weft::task_state::suspended;
        });
        if (ok) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
}

}  // namespace

TEST_CASE("the blocked-worker warning shows the stack of the code that blocks",
          "[diagnostics][backtrace][stall]") {
    weft::test::stderr_capture cap;
    // The task holds its worker for 1 s and until the first repeat is out (or 15 s passed):
    // how long the first report takes (it loads the debug information: slow under the
    // sanitizers and on a loaded machine) does not decide whether a repeat comes, and the
    // stall is long enough for a missing rate limit to show (some 50 samples).
    std::atomic<bool> release{false};
    long held_ms = 0;
    {
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .blocking_warning_threshold(40ms)
                      .build();
        std::thread watcher([&] {
            const auto start = std::chrono::steady_clock::now();
            const auto deadline = start + 15s;
            while ((std::chrono::steady_clock::now() - start < 1s ||
                    cap.contents().find("still holds worker") == std::string::npos) &&
                   std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(5ms);
            }
            release = true;
        });
        held_ms = rt.block_on([&release] {
            return weft::task_builder()
                .name("hog")
                .spawn([&release] {
                    weft::yield_now();
                    return weft_backtrace_test::hold_the_worker_in_a_named_function(&release,
                                                                                    15000ms);
                })
                .join();
        });
        watcher.join();
    }
    std::string err = cap.finish();
    INFO(err);
    INFO("held " << held_ms << " ms");
    auto first = err.find("has held worker");
    REQUIRE(first != std::string::npos);
    auto stack = err.find("its stack, innermost frame first:", first);
    REQUIRE(stack != std::string::npos);
    // The first warning's own stack names the function that holds the worker, with its file.
    auto next_warning = err.find("weft: warning", stack);
    std::string block = err.substr(stack, next_warning - stack);
    CHECK_THAT(block, Catch::Contains("hold_the_worker_in_a_named_function"));
    CHECK_THAT(block, Catch::Contains("backtrace_test.cpp"));
    // Rate limit: the k-th repeat comes once the stall, as the monitor measures it (never more
    // than the task's own count), reached 40 ms * 2^k, not at every sample (every 20 ms):
    // so at most log2(held / 40 ms) of them (+1 for the instant between the task's count and
    // its leaving the worker).
    std::size_t repeats = 0;
    for (auto p = err.find("still holds worker"); p != std::string::npos;
         p = err.find("still holds worker", p + 1)) {
        ++repeats;
    }
    CHECK(repeats >= 1);
    const double bound = std::log2(static_cast<double>(held_ms) / 40.0) + 1.0;
    CHECK(static_cast<double>(repeats) <= bound);
}

TEST_CASE("stall_signal 0 keeps the warning and drops the stack; a bad signal is refused",
          "[diagnostics][backtrace][stall]") {
    CHECK_THROWS_WITH(weft::builder::multi_thread().stall_signal(SIGUSR1).build(),
                      Catch::Contains("stall_signal") && Catch::Contains("real-time"));
    weft::test::stderr_capture cap;
    {
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .blocking_warning_threshold(40ms)
                      .stall_signal(0)
                      .build();
        rt.block_on([] {
            weft::spawn([] {
                return weft_backtrace_test::hold_the_worker_in_a_named_function(nullptr, 150ms);
            }).join();
        });
    }
    std::string err = cap.finish();
    INFO(err);
    CHECK_THAT(err, Catch::Contains("has held worker"));
    CHECK_THAT(err, !Catch::Contains("its stack"));
}

TEST_CASE("dump(with_backtraces) names the functions parked tasks wait in",
          "[diagnostics][backtrace][dump]") {
    weft::notify n;  // outlives the runtime, whose shutdown ends its waiter first
    auto rt = weft::test::make_runtime(2);
    auto [sleeper, waiter] = rt.block_on([&n] {
        auto s = weft::task_builder().name("sleeper").spawn(
            [] { weft_backtrace_test::park_in_a_named_sleep(); });
        auto w = weft::task_builder().name("waiter").spawn(
            [&n] { return weft_backtrace_test::park_in_a_named_notify_wait(n); });
        return std::pair(std::move(s), std::move(w));
    });
    std::vector<weft::task_id> ids{sleeper.id(), waiter.id()};
    REQUIRE(all_suspended(rt, ids));

    auto plain = rt.dump();
    CHECK(find(plain, sleeper.id())->backtrace.empty());  // only on request

    auto d = rt.dump(weft::with_backtraces);
    const weft::task_info* s = find(d, sleeper.id());
    const weft::task_info* w = find(d, waiter.id());
    REQUIRE(s);
    REQUIRE(w);
    INFO(weft::format_dump(d));
    CHECK(mentions(s->backtrace, "park_in_a_named_sleep"));
    CHECK(mentions(s->backtrace, "backtrace_test.cpp"));
    CHECK(mentions(w->backtrace, "park_in_a_named_notify_wait"));
    CHECK(!mentions(w->backtrace, "park_in_a_named_sleep"));
    REQUIRE(!s->backtrace.empty());
    CHECK(s->backtrace.size() <= weft::dump_backtrace_frames);
    CHECK(s->backtrace.front().rfind("#0 ", 0) == 0);

    // The text and JSON forms carry the frames.
    std::string text = weft::format_dump(d);
    CHECK_THAT(text, Catch::Contains("\n    #0 "));
    CHECK_THAT(text, Catch::Contains("park_in_a_named_notify_wait"));
    CHECK_THAT(weft::format_dump_json(d), Catch::Contains("\"backtrace\":[\"#0 "));

    // Reading the stacks left the tasks as they were: the waiter still takes its wake and
    // returns, the sleeper still takes its abort.
    n.notify_one();
    auto v =
        weft::test::run_bounded(5000ms, [h = std::move(waiter)]() mutable { return h.join(); });
    REQUIRE(v);
    CHECK(*v == 7);
    sleeper.abort();
    auto aborted = weft::test::run_bounded(5000ms, [h = std::move(sleeper)]() mutable {
        try {
            h.join();
            return false;
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
    });
    REQUIRE(aborted);
    CHECK(*aborted);
}

TEST_CASE("dumps with backtraces racing wakes lose no wake", "[diagnostics][backtrace][dump]") {
    auto rt = weft::test::make_runtime(2);
    const int rounds = static_cast<int>(weft::test::scaled(100000));
    std::atomic<bool> done{false};
    // Two tasks ping-pong through notify: every round parks each and wakes the other, so a
    // dump's borrow often overlaps a wake (which it must hold back and then pass on).
    auto a = std::make_shared<weft::notify>();
    auto b = std::make_shared<weft::notify>();
    auto ping = rt.spawn([a, b, rounds] {
        for (int i = 0; i < rounds; ++i) {
            b->notify_one();
            weft_backtrace_test::park_in_a_named_notify_wait(*a);
        }
        return rounds;
    });
    auto pong = rt.spawn([a, b, rounds] {
        for (int i = 0; i < rounds; ++i) {
            weft_backtrace_test::park_in_a_named_notify_wait(*b);
            a->notify_one();
        }
        return rounds;
    });
    std::size_t dumps = 0;
    std::size_t read = 0;
    std::thread dumper([&] {
        while (!done.load()) {
            auto d = rt.dump(weft::with_backtraces);
            ++dumps;
            for (const auto& t : d)
                if (mentions(t.backtrace, "park_in_a_named_notify_wait")) ++read;
        }
    });
    auto r = weft::test::run_bounded(20000ms, [p = std::move(ping), q = std::move(pong)]() mutable {
        return p.join() + q.join();
    });
    done = true;
    dumper.join();
    REQUIRE(r);
    CHECK(*r == 2 * rounds);
    CHECK(dumps > 0);
    CHECK(read > 0);  // some reads landed on a parked task
}

TEST_CASE("a dump with backtraces keeps its bounds: frames per task, tasks per dump",
          "[diagnostics][backtrace][dump]") {
    auto rt = weft::test::make_runtime(2);
    const std::size_t n = weft::dump_backtrace_tasks + 20;
    auto handles = rt.block_on([n] {
        std::vector<weft::join_handle<int>> hs;
        hs.push_back(weft::spawn([] { return weft_backtrace_test::park_deep_in_recursion(60); }));
        for (std::size_t i = 1; i < n; ++i)
            hs.push_back(
                weft::spawn([] { return weft_backtrace_test::park_deep_in_recursion(0); }));
        return hs;
    });
    std::vector<weft::task_id> ids;
    for (const auto& h : handles) ids.push_back(h.id());
    REQUIRE(all_suspended(rt, ids));

    auto d = rt.dump(weft::with_backtraces);
    std::size_t read = 0, over_limit = 0;
    for (weft::task_id id : ids) {
        const weft::task_info* t = find(d, id);
        REQUIRE(t);
        REQUIRE(!t->backtrace.empty());
        if (t->backtrace[0].rfind("#0 ", 0) == 0) {
            ++read;
            CHECK(mentions(t->backtrace, "park_deep_in_recursion"));
        } else if (t->backtrace[0].find("dump_backtrace_tasks") != std::string::npos) {
            ++over_limit;
        }
    }
    CHECK(read == weft::dump_backtrace_tasks);
    CHECK(over_limit == n - weft::dump_backtrace_tasks);
    // The deep one (the lowest id: spawned first) is cut at the innermost 32 frames.
    const weft::task_info* deep = find(d, ids[0]);
    CHECK(deep->backtrace.size() == weft::dump_backtrace_frames);
    CHECK(deep->backtrace.back().rfind(fmt::format("#{} ", weft::dump_backtrace_frames - 1), 0) ==
          0);
    for (auto& h : handles) h.abort();
}
