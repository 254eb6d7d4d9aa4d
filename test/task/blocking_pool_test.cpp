// The blocking pool's hand-off (issue #12): below max_blocking_threads every queued job gets a
// thread of its own, even when a burst arrives while idle threads are still waking up.
#include "support/bounded.hpp"
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

using namespace std::chrono_literals;

namespace {

bool wait_for(std::chrono::milliseconds limit, auto&& pred) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

struct burst_result {
    int rounds = 0;  // rounds completed
    int stuck = 0;   // rounds where job A never saw job B start
    bool warm_failed = false;
};

}  // namespace

TEST_CASE("a blocking job never waits behind a running one while the pool is below its cap",
          "[task][blocking]") {
    // One idle thread, then two jobs back to back: A waits (bounded) until B runs. The first
    // spawn hands A to the idle thread; the second must start a thread for B rather than
    // notify the same idle thread again before it woke (which left B queued behind A).
    const int rounds = static_cast<int>(weft::test::scaled(200));
    auto r = weft::test::run_bounded(120s, [rounds] {
        burst_result res;
        for (int i = 0; i < rounds && res.stuck == 0 && !res.warm_failed; ++i) {
            auto rt =
                weft::builder::multi_thread().worker_threads(1).max_blocking_threads(4).build();
            rt.block_on([] { weft::spawn_blocking([] {}).join(); });
            if (!wait_for(5s, [&] { return rt.metrics().idle_blocking_threads == 1; })) {
                res.warm_failed = true;
                break;
            }
            auto b_started = std::make_shared<std::promise<void>>();
            auto a = rt.spawn_blocking([started = b_started->get_future()] {
                return started.wait_for(5s) == std::future_status::ready;
            });
            auto b = rt.spawn_blocking([b_started] { b_started->set_value(); });
            bool a_saw_b = rt.block_on([&] {
                b.join();
                return a.join();
            });
            if (!a_saw_b) ++res.stuck;
            ++res.rounds;
        }
        return res;
    });
    REQUIRE(r.has_value());
    INFO("rounds run: " << r->rounds);
    CHECK_FALSE(r->warm_failed);
    CHECK(r->stuck == 0);
    CHECK(r->rounds == rounds);
}
