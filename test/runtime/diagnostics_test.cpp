// Task hooks and the blocked-worker warning.
#include "support/harness.hpp"
#include "support/stderr_capture.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}
}  // namespace

TEST_CASE("on_task_spawn and on_task_terminate see every task", "[runtime][hooks]") {
    std::atomic<int> spawned{0}, terminated{0}, named{0};
    {
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .on_task_spawn([&](const weft::task_info& i) {
                          spawned++;
                          if (i.name == "traced") named++;
                      })
                      .on_task_terminate([&](const weft::task_info& i) {
                          if (i.state == weft::task_state::finished) terminated++;
                      })
                      .build();
        rt.block_on([] {
            std::vector<weft::join_handle<void>> hs;
            for (int i = 0; i < 50; ++i) hs.push_back(weft::spawn([] { weft::yield_now(); }));
            hs.push_back(weft::task_builder().name("traced").spawn([] {}));
            for (auto& h : hs) h.join();
        });
    }
    CHECK(spawned.load() == 52);  // 51 + block_on's own task
    CHECK(terminated.load() == 52);
    CHECK(named.load() == 1);
}

TEST_CASE("a throwing on_task_terminate hook is reported and ignored", "[runtime][hooks]") {
    weft::test::stderr_capture cap;
    int sum = 0;
    {
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .on_task_terminate(
                          [](const weft::task_info&) { throw std::runtime_error("hook failed"); })
                      .build();
        sum = rt.block_on([] {
            std::vector<weft::join_handle<int>> hs;
            for (int i = 0; i < 20; ++i) {
                hs.push_back(weft::spawn([i] {
                    weft::yield_now();  // others finish meanwhile, some on this task's stack
                    return i;
                }));
            }
            int s = 0;
            for (auto& h : hs) s += h.join();
            return s;
        });
    }
    CHECK(sum == 190);
    std::string err = cap.finish();
    CHECK(count(err, "on_task_terminate hook threw") >= 20);
    CHECK(count(err, "hook failed") >= 20);
}

TEST_CASE("a task that blocks its worker is reported once, by name", "[runtime][blocking]") {
    weft::test::stderr_capture cap;
    {
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .blocking_warning_threshold(40ms)
                      .build();
        rt.block_on([] {
            weft::task_builder()
                .name("hog")
                .spawn([] {
                    weft::yield_now();
                    std::this_thread::sleep_for(400ms);  // blocks the worker on purpose
                })
                .join();
        });
    }
    std::string err = cap.finish();
    INFO(err);
    CHECK(count(err, "has held worker") == 1);
    CHECK_THAT(err, Catch::Contains("'hog'"));
    CHECK_THAT(err, Catch::Contains("diagnostics_test.cpp"));
    CHECK_THAT(err, Catch::Contains("resumed at"));
}

TEST_CASE("a well-behaved runtime produces no blocking warning", "[runtime][blocking]") {
    weft::test::stderr_capture cap;
    {
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .blocking_warning_threshold(50ms)
                      .build();
        rt.block_on([] {
            for (int i = 0; i < 20; ++i) weft::sleep_for(5ms);
        });
    }
    std::string err = cap.finish();
    CHECK(count(err, "has held worker") == 0);
}

namespace {
// Whether this process has a thread named `name` now.
bool has_thread_named(const std::string& name) {
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(e.path() / "comm");
        std::string n;
        if (std::getline(comm, n) && n == name) return true;
    }
    return false;
}
}  // namespace

TEST_CASE("the blocked-worker monitor is a thread of its own name", "[runtime][blocking]") {
    // top -H and perf then show what CPU a report takes (its first symbolisation loads every
    // module's debug information, docs/performance.md).
    bool found = false;
    {
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .blocking_warning_threshold(50ms)
                      .build();
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!(found = has_thread_named("weft-monitor")) &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
    }
    CHECK(found);
    CHECK_FALSE(has_thread_named("weft-monitor"));  // joined with its runtime
    {
        // Off with the warning: no monitor at all.
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .blocking_warning_threshold(std::chrono::nanoseconds(0))
                      .build();
        rt.block_on([] { weft::sleep_for(5ms); });
        CHECK_FALSE(has_thread_named("weft-monitor"));
    }
}
