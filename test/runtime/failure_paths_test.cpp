// Failure paths never hang (issue #12): a spawn that fails throws from spawn and leaves nothing
// behind, the runtime stays usable, and its destructor returns promptly. Every runtime here is
// built and destroyed inside run_bounded, so a leaked task (a destructor waiting forever) fails
// the test with a message instead of hanging the suite.
#include "support/bounded.hpp"
#include "support/harness.hpp"

#include <weft/detail/fault_injection.hpp>
#include <weft/sync.hpp>
#include <weft/task.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct hook_refused : std::runtime_error {
    hook_refused()
        : std::runtime_error("the on_task_spawn hook refused this task") {}
};

/// A builder whose on_task_spawn hook throws hook_refused while `*refuse` is set.
weft::builder refusing_builder(std::shared_ptr<std::atomic<bool>> refuse, std::size_t workers) {
    return weft::builder::multi_thread().worker_threads(workers).on_task_spawn(
        [refuse](const weft::task_info&) {
            if (refuse->load()) throw hook_refused();
        });
}

struct hook_result {
    std::string outside;          // what runtime::spawn threw
    std::string inside;           // what weft::spawn threw inside a task
    std::string blocking;         // what spawn_blocking threw
    int ran_refused = 0;          // refused callables that ran anyway (must stay 0)
    int later = 0;                // spawns after the hook stopped throwing that ran
    std::size_t alive_after = 0;  // metrics().alive_tasks once everything was joined
};

}  // namespace

TEST_CASE("a throwing on_task_spawn hook fails that spawn, and shutdown stays prompt",
          "[runtime][failure]") {
    auto r = weft::test::run_bounded(20s, [] {
        hook_result res;
        auto refuse = std::make_shared<std::atomic<bool>>(false);
        auto ran = std::make_shared<std::atomic<int>>(0);
        {
            auto rt = refusing_builder(refuse, 2).build();
            rt.block_on([] {});
            refuse->store(true);
            try {
                rt.spawn([ran] { ++*ran; });
            } catch (const hook_refused& e) {
                res.outside = e.what();
            }
            try {
                rt.spawn_blocking([ran] { ++*ran; });
            } catch (const hook_refused& e) {
                res.blocking = e.what();
            }
            refuse->store(false);
            res.inside = rt.block_on([refuse, ran] {
                std::string what;
                refuse->store(true);
                try {
                    weft::spawn([ran] { ++*ran; });
                } catch (const hook_refused& e) {
                    what = e.what();
                }
                refuse->store(false);
                return what;
            });
            std::vector<weft::join_handle<int>> hs;
            for (int i = 0; i < 10; ++i) hs.push_back(rt.spawn([] { return 1; }));
            res.later = rt.block_on([&hs] {
                int n = 0;
                for (auto& h : hs) n += h.join();
                return n;
            });
            res.alive_after = weft::test::alive_settled(rt);
        }  // ~runtime: must not wait for a task the failed spawns left behind
        res.ran_refused = ran->load();
        return res;
    });
    REQUIRE(r.has_value());  // else ~runtime hung: a refused task was leaked
    CHECK(r->outside == "the on_task_spawn hook refused this task");
    CHECK(r->blocking == "the on_task_spawn hook refused this task");
    CHECK(r->inside == "the on_task_spawn hook refused this task");
    CHECK(r->ran_refused == 0);
    CHECK(r->later == 10);
    CHECK(r->alive_after == 0);
}

TEST_CASE("a select whose other branches cannot start throws why, and the runtime goes on",
          "[runtime][failure][select]") {
    // select runs its first branch inline and spawns the others when it waits: a spawn that
    // fails there is the select's failure (the inline branch is cut, nothing is left waiting).
    struct select_result {
        std::string what;
        int ran_refused = 0;  // the refused branch must never run
        int later = 0;        // a select after the hook stopped throwing
        std::size_t alive_after = 0;
    };
    auto r = weft::test::run_bounded(20s, [] {
        select_result res;
        auto refuse = std::make_shared<std::atomic<bool>>(false);
        {
            auto rt = refusing_builder(refuse, 2).build();
            auto out = rt.block_on([refuse] {
                weft::notify never;
                int ran = 0;
                std::string what;
                refuse->store(true);
                try {
                    // select_biased starts the wait first: it parks, and the second branch's
                    // spawn is refused.
                    weft::select_biased([&] { never.notified(); },
                                        [&] {
                                            ++ran;
                                            return 1;
                                        });
                } catch (const hook_refused& e) {
                    what = e.what();
                }
                refuse->store(false);
                auto again = weft::select_biased([&] { never.notified(); }, [] { return 2; });
                return std::tuple<std::string, int, int>(what, ran, std::get<1>(again));
            });
            res.what = std::get<0>(out);
            res.ran_refused = std::get<1>(out);
            res.later = std::get<2>(out);
            res.alive_after = weft::test::alive_settled(rt);
        }
        return res;
    });
    REQUIRE(r.has_value());  // else the select or ~runtime hung
    CHECK(r->what == "the on_task_spawn hook refused this task");
    CHECK(r->ran_refused == 0);
    CHECK(r->later == 2);
    CHECK(r->alive_after == 0);
}

// ---- injected faults (weft/detail/fault_injection.hpp) ------------------------------------

namespace fault = weft::detail::fault;

namespace {

struct fault_result {
    std::string what;  // the exception the failing call threw
    std::uint64_t injected = 0;
    int later = 0;  // work that ran after the fault
    std::size_t alive_after = 0;
};

}  // namespace

TEST_CASE("a blocking-pool thread that cannot start fails spawn_blocking; the pool recovers",
          "[runtime][failure][fault]") {
    fault::reset_on_exit guard;
    auto r = weft::test::run_bounded(20s, [] {
        fault::reset_on_exit inner;
        fault_result res;
        {
            auto rt =
                weft::builder::multi_thread().worker_threads(1).max_blocking_threads(1).build();
            fault::arm(fault::point::thread_create);
            try {
                rt.spawn_blocking([] { return 1; });
            } catch (const std::system_error& e) {
                res.what = e.what();
            }
            res.injected = fault::injected(fault::point::thread_create);
            fault::reset();
            // The count of threads came back: with a cap of 1 a new thread starts and runs.
            auto h = rt.spawn_blocking([] { return 1; });
            res.later = rt.block_on([&h] { return h.join(); });
            res.later += rt.block_on([] { return weft::spawn_blocking([] { return 1; }).join(); });
            res.alive_after = weft::test::alive_settled(rt);
        }
        return res;
    });
    REQUIRE(r.has_value());  // else a job was stranded or ~runtime waited for a thread
    CHECK(r->injected == 1);
    CHECK_THAT(r->what, Catch::Contains("weft: could not start a blocking-pool thread"));
    CHECK(r->later == 2);
    CHECK(r->alive_after == 0);
}

TEST_CASE("a blocking job whose thread cannot start waits for the thread that exists",
          "[runtime][failure][fault]") {
    fault::reset_on_exit guard;
    auto r = weft::test::run_bounded(20s, [] {
        fault::reset_on_exit inner;
        fault_result res;
        {
            auto rt =
                weft::builder::multi_thread().worker_threads(1).max_blocking_threads(2).build();
            auto release = std::make_shared<std::promise<void>>();
            auto first = rt.spawn_blocking([done = release->get_future()] {
                return done.wait_for(10s) == std::future_status::ready ? 1 : 0;
            });
            // The first job's thread is running it: the second spawn wants a new thread.
            fault::arm(fault::point::thread_create);
            auto second = rt.spawn_blocking([] { return 1; });  // queued, does not throw
            res.injected = fault::injected(fault::point::thread_create);
            fault::reset();
            release->set_value();
            res.later = rt.block_on([&] { return first.join() + second.join(); });
            res.alive_after = weft::test::alive_settled(rt);
        }
        return res;
    });
    REQUIRE(r.has_value());
    CHECK(r->injected == 1);
    CHECK(r->later == 2);
    CHECK(r->alive_after == 0);
}

TEST_CASE("a worker thread that cannot start fails build() cleanly", "[runtime][failure][fault]") {
    fault::reset_on_exit guard;
    auto r = weft::test::run_bounded(20s, [] {
        fault::reset_on_exit inner;
        fault_result res;
        fault::arm(fault::point::thread_create, 2);  // the second worker
        try {
            auto rt = weft::builder::multi_thread().worker_threads(3).build();
        } catch (const std::system_error& e) {
            res.what = e.what();
        }
        res.injected = fault::injected(fault::point::thread_create);
        fault::reset();
        auto rt = weft::builder::multi_thread().worker_threads(3).build();
        res.later = rt.block_on([] { return weft::spawn([] { return 1; }).join(); });
        return res;
    });
    REQUIRE(r.has_value());  // else the started worker was never stopped
    CHECK(r->injected == 1);
    CHECK_THAT(r->what, Catch::Contains("could not start worker thread 2 of 3"));
    CHECK(r->later == 1);
}

TEST_CASE("a task allocation that fails throws bad_alloc from spawn", "[runtime][failure][fault]") {
    fault::reset_on_exit guard;
    auto r = weft::test::run_bounded(20s, [] {
        fault::reset_on_exit inner;
        fault_result res;
        {
            auto rt = weft::test::make_runtime();
            rt.block_on([] {});
            fault::arm(fault::point::task_alloc);
            try {
                rt.spawn([] { return 1; });
            } catch (const std::bad_alloc&) {
                res.what = "outside";
            }
            res.what += rt.block_on([] {
                fault::arm(fault::point::task_alloc);
                try {
                    weft::spawn([] { return 1; });
                } catch (const std::bad_alloc&) {
                    fault::reset();
                    return std::string(", inside");
                }
                fault::reset();
                return std::string();
            });
            auto h = rt.spawn([] { return 1; });
            res.later =
                rt.block_on([&h] { return h.join() + weft::spawn([] { return 1; }).join(); });
            res.alive_after = weft::test::alive_settled(rt);
        }
        return res;
    });
    REQUIRE(r.has_value());
    CHECK(r->what == "outside, inside");
    CHECK(r->later == 2);
    CHECK(r->alive_after == 0);
}

TEST_CASE("a timer heap that cannot grow fails sleep_for with bad_alloc; timers still work",
          "[runtime][failure][fault]") {
    fault::reset_on_exit guard;
    auto r = weft::test::run_bounded(20s, [] {
        fault::reset_on_exit inner;
        fault_result res;
        {
            // One worker: its heap is empty and has no capacity yet, so the first sleep grows it.
            auto rt = weft::test::make_runtime(1);
            res.what = rt.block_on([] {
                fault::arm(fault::point::timer_heap_grow);
                std::string what;
                try {
                    weft::sleep_for(1ms);
                } catch (const std::bad_alloc& e) {
                    what = e.what();
                }
                return what;
            });
            res.injected = fault::injected(fault::point::timer_heap_grow);
            fault::reset();
            // The heap is consistent: sleepers of many deadlines (armed in the reverse order)
            // all wake, none before its deadline.
            res.later = rt.block_on([] {
                auto on_time = std::make_shared<std::atomic<int>>(0);
                std::vector<weft::join_handle<void>> hs;
                for (int i = 20; i > 0; --i) {
                    hs.push_back(weft::spawn([i, on_time] {
                        auto deadline = weft::time::now() + std::chrono::milliseconds(2 * i);
                        weft::sleep_until(deadline);
                        if (weft::time::now() >= deadline) ++*on_time;
                    }));
                }
                for (auto& h : hs) h.join();
                return on_time->load();
            });
            res.alive_after = weft::test::alive_settled(rt);
        }
        return res;
    });
    REQUIRE(r.has_value());
    CHECK(r->injected == 1);
    CHECK(r->what == std::bad_alloc().what());
    CHECK(r->later == 20);
    CHECK(r->alive_after == 0);
}

TEST_CASE("a stack that cannot be mapped fails its task, reported by join",
          "[runtime][failure][fault]") {
    fault::reset_on_exit guard;
    auto r = weft::test::run_bounded(20s, [] {
        fault::reset_on_exit inner;
        fault_result res;
        {
            auto rt = weft::test::make_runtime(1);
            // A stack size no earlier task used, so the stack is mapped rather than reused.
            constexpr std::size_t odd_size = 200 * 1024 + 3 * 4096;
            res.what = rt.block_on([] {
                // Up to two attempts (a direct switch, then the worker loop), each trying a
                // guarded mapping and then a slab.
                fault::arm(fault::point::stack_map, 1, 4);
                auto h = weft::task_builder().stack_size(odd_size).spawn([] { return 1; });
                std::string what;
                try {
                    h.join();
                } catch (const weft::join_error& e) {
                    what = e.what();
                }
                return what;
            });
            res.injected = fault::injected(fault::point::stack_map);
            fault::reset();
            res.later = rt.block_on([] {
                return weft::task_builder().stack_size(odd_size).spawn([] { return 1; }).join() +
                       weft::spawn([] { return 1; }).join();
            });
            res.alive_after = weft::test::alive_settled(rt);
        }
        return res;
    });
    REQUIRE(r.has_value());
    CHECK(r->injected >= 2);
    CHECK_THAT(r->what, Catch::Contains("cannot map"));
    CHECK(r->later == 2);
    CHECK(r->alive_after == 0);
}
