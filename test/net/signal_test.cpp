// weft::signal: wait for a raised signal, pending deliveries, ctrl_c, abort.
#include "support/harness.hpp"

#include <weft/signal.hpp>

#include <catch2/catch.hpp>

#include <csignal>
#include <string_view>
#include <thread>

using namespace std::chrono_literals;

namespace {

/// Polls dump() until task `id` is parked in signal::wait (so its handler is installed).
bool wait_until_parked(weft::runtime& rt, weft::task_id id) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        for (const auto& t : rt.dump()) {
            if (t.id == id && t.state == weft::task_state::suspended &&
                t.waiting_on == "signal::wait") {
                return true;
            }
        }
        std::this_thread::sleep_for(1ms);
    }
    return false;
}

template <class T>
T join_on(weft::runtime& rt, weft::join_handle<T>& h) {
    return rt.block_on([&] { return h.join(); });
}

}  // namespace

TEST_CASE("signal::wait returns the raised signal", "[net][signal]") {
    auto rt = weft::test::make_runtime();
    auto h = rt.spawn([] { return weft::signal::wait({SIGUSR2, SIGUSR1}); });
    REQUIRE(wait_until_parked(rt, h.id()));
    std::raise(SIGUSR1);
    CHECK(join_on(rt, h) == SIGUSR1);

    // A delivery while nobody waits is kept for the next wait that includes it.
    std::raise(SIGUSR2);
    std::this_thread::sleep_for(20ms);
    auto again = rt.spawn([] { return weft::signal::wait({SIGUSR2}); });
    CHECK(join_on(rt, again) == SIGUSR2);

    // Every waiter for the signal is woken.
    auto w1 = rt.spawn([] { return weft::signal::wait({SIGUSR1}); });
    auto w2 = rt.spawn([] { return weft::signal::wait({SIGUSR1, SIGUSR2}); });
    REQUIRE(wait_until_parked(rt, w1.id()));
    REQUIRE(wait_until_parked(rt, w2.id()));
    std::raise(SIGUSR1);
    CHECK(join_on(rt, w1) == SIGUSR1);
    CHECK(join_on(rt, w2) == SIGUSR1);
}

TEST_CASE("signal::ctrl_c and aborting a wait", "[net][signal]") {
    auto rt = weft::test::make_runtime();
    auto h = rt.spawn([] { weft::signal::ctrl_c(); });
    REQUIRE(wait_until_parked(rt, h.id()));
    std::raise(SIGINT);
    CHECK_NOTHROW(join_on(rt, h));

    auto aborted = rt.spawn([] { return weft::signal::wait({SIGUSR1}); });
    REQUIRE(wait_until_parked(rt, aborted.id()));
    aborted.abort();
    bool cancelled = rt.block_on([&] {
        try {
            aborted.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);

    CHECK_THROWS_AS(weft::signal::wait({SIGUSR1}), weft::no_runtime);
    bool rejected = rt.block_on([] {
        try {
            weft::signal::wait({0});
        } catch (const std::invalid_argument&) {
            return true;
        }
        return false;
    });
    CHECK(rejected);
}
