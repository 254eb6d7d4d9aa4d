#include "support/harness.hpp"

#include <weft/diagnostics/exposition.hpp>
#include <weft/sync.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("block_on returns the value and rethrows the original exception", "[runtime]") {
    auto rt = weft::test::make_runtime();
    CHECK(rt.block_on([] { return 42; }) == 42);
    auto p = rt.block_on([] { return std::make_unique<int>(7); });  // move-only result
    CHECK(*p == 7);
    CHECK_THROWS_AS(rt.block_on([]() -> int { throw std::out_of_range("boom"); }),
                    std::out_of_range);
    rt.block_on([] {});
}

TEST_CASE("block_on from a runtime thread is a logic_error", "[runtime]") {
    auto rt = weft::test::make_runtime();
    auto h = rt.handle();
    std::string what = rt.block_on([h] {
        try {
            h.block_on([] { return 1; });
        } catch (const std::logic_error& e) {
            return std::string(e.what());
        }
        return std::string();
    });
    CHECK_THAT(what, Catch::Contains("block_on"));
}

TEST_CASE("outside a runtime the free functions throw no_runtime saying what to do", "[runtime]") {
    CHECK_THROWS_AS(weft::spawn([] {}), weft::no_runtime);
    CHECK_THROWS_WITH(weft::spawn([] {}), Catch::Contains("runtime::block_on"));
    CHECK_THROWS_AS(weft::handle::current(), weft::no_runtime);
    CHECK_FALSE(weft::handle::try_current().has_value());
    CHECK(weft::this_task::id() == 0);
}

TEST_CASE("handle::current inside a task is the runtime's handle", "[runtime]") {
    auto rt = weft::test::make_runtime();
    auto h = rt.handle();
    bool same = rt.block_on([h] { return weft::handle::current() == h; });
    CHECK(same);
    // A handle spawns from a plain thread.
    std::atomic<int> v{0};
    std::thread th([&] { h.spawn([&] { v = 5; }).join(); });
    th.join();
    CHECK(v == 5);
}

TEST_CASE("spawning through a handle after shutdown reports cancelled", "[runtime]") {
    weft::handle h = [] {
        auto rt = weft::test::make_runtime();
        return rt.handle();
    }();
    auto jh = h.spawn([] { return 1; });
    try {
        jh.join();
        FAIL("join should throw");
    } catch (const weft::join_error& e) {
        CHECK(e.is_cancelled());
    }
}

TEST_CASE("a runtime is movable", "[runtime]") {
    auto a = weft::test::make_runtime();
    weft::runtime b = std::move(a);
    CHECK(b.block_on([] { return 3; }) == 3);
}

TEST_CASE("current_thread: tasks spawned from outside run at the next block_on", "[runtime]") {
    auto rt = weft::builder::current_thread().build();
    std::atomic<bool> ran{false};
    auto h = rt.spawn([&] { ran = true; });
    std::this_thread::sleep_for(5ms);
    CHECK_FALSE(ran.load());
    rt.block_on([&] { h.join(); });
    CHECK(ran.load());
}

TEST_CASE("metrics count spawned tasks and workers", "[runtime][metrics]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] {
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 100; ++i) hs.push_back(weft::spawn([] { weft::yield_now(); }));
        for (auto& h : hs) h.join();
    });
    auto m = rt.metrics();
    CHECK(m.workers == 2);
    CHECK(m.spawned_tasks >= 101);
    CHECK(m.per_worker.size() == 2);
    std::uint64_t polls = 0;
    for (auto& w : m.per_worker) polls += w.polls;
    CHECK(polls >= 201);
}

TEST_CASE("dump lists a parked task with its name, wait and location", "[runtime][dump]") {
    auto rt = weft::test::make_runtime();
    auto h = weft::task_builder().name("sleeper");
    auto jh = rt.block_on([&] { return h.spawn([] { weft::sleep_for(1h); }); });
    std::vector<weft::task_info> tasks;
    for (int i = 0; i < 200; ++i) {
        tasks = rt.dump();
        if (tasks.size() == 1 && tasks[0].state == weft::task_state::suspended) break;
        std::this_thread::sleep_for(5ms);
    }
    REQUIRE(tasks.size() == 1);
    CHECK(tasks[0].name == "sleeper");
    CHECK(tasks[0].state == weft::task_state::suspended);
    CHECK(tasks[0].waiting_on == "sleep");
    CHECK_THAT(tasks[0].suspended_at.file_name(), Catch::Contains("runtime_test.cpp"));
    CHECK_THAT(weft::format_dump(tasks), Catch::Contains("sleeper"));
    jh.abort();
}

TEST_CASE("dump marks a task that was aborted and has not finished as cancelled",
          "[runtime][dump]") {
    // A shielded task keeps waiting after its abort: the dump says so, in the struct, the text
    // and the JSON, so that a task stuck after an abort stands out from one merely waiting.
    auto rt = weft::test::make_runtime();
    auto n = std::make_shared<weft::notify>();
    auto jh = rt.block_on([&] {
        return weft::task_builder().name("shielded").spawn([n] {
            weft::this_task::shield s;
            n->notified();
        });
    });
    auto suspended_with = [&](bool cancelled) {
        std::vector<weft::task_info> tasks;
        for (int i = 0; i < 400; ++i) {
            tasks = rt.dump();
            if (tasks.size() == 1 && tasks[0].state == weft::task_state::suspended &&
                tasks[0].cancelled == cancelled) {
                break;
            }
            std::this_thread::sleep_for(5ms);
        }
        return tasks;
    };
    std::vector<weft::task_info> before = suspended_with(false);
    REQUIRE(before.size() == 1);
    CHECK_FALSE(before[0].cancelled);
    CHECK_THAT(weft::format_dump(before), Catch::Contains("'shielded' [suspended] spawned at"));
    CHECK_THAT(weft::format_dump_json(before), !Catch::Contains("\"cancelled\""));
    jh.abort();
    std::vector<weft::task_info> after = suspended_with(true);
    REQUIRE(after.size() == 1);
    CHECK(after[0].state == weft::task_state::suspended);
    CHECK(after[0].cancelled);
    CHECK(after[0].waiting_on == "notify::notified");
    CHECK_THAT(weft::format_dump(after),
               Catch::Contains("'shielded' [suspended, cancelled] spawned at"));
    CHECK_THAT(weft::format_dump_json(after), Catch::Contains("\"cancelled\":true"));
    // Notified, it leaves the shield and returns: no cancellation point comes after it.
    n->notify_one();
    rt.block_on([&] { CHECK_NOTHROW(jh.join()); });
}
