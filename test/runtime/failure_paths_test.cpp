// Failure paths never hang (issue #12): a spawn that fails throws from spawn and leaves nothing
// behind, the runtime stays usable, and its destructor returns promptly. Every runtime here is
// built and destroyed inside run_bounded, so a leaked task (a destructor waiting forever) fails
// the test with a message instead of hanging the suite.
#include "support/bounded.hpp"
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct hook_refused : std::runtime_error {
    hook_refused() : std::runtime_error("the on_task_spawn hook refused this task") {}
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
            res.alive_after = rt.metrics().alive_tasks;
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
