// dump_on_signal: raise() the signal in this process with fd 2 redirected to a temporary
// file, and read the dump back from it.
#include "support/harness.hpp"
#include "support/stderr_capture.hpp"

#include <weft/console.hpp>
#include <weft/signal.hpp>

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <source_location>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

// A frame the SIGQUIT dump's backtrace must name (external linkage, never inlined).
namespace weft_sigquit_test {
[[gnu::noinline]] void park_in_a_named_sigquit_frame() {
    weft::sleep_for(1h);
    asm volatile("" ::: "memory");
}
}  // namespace weft_sigquit_test

namespace {

constexpr unsigned park_line = __LINE__ + 1;
void park_forever() { weft::sleep_for(1h); }

bool is_default_action(int signo) {
    struct sigaction sa {};
    ::sigaction(signo, nullptr, &sa);
    return sa.sa_handler == SIG_DFL;
}

}  // namespace

TEST_CASE("dump_on_signal prints the task dump to stderr on SIGQUIT", "[diagnostics][signal]") {
    auto rt = weft::test::make_runtime(2);
    rt.block_on([] { weft::task_builder().name("sigquit-parked").spawn(park_forever); });
    std::string text;
    {
        weft::test::stderr_capture cap;
        weft::signal_dump_guard guard = weft::dump_on_signal(rt.handle());
        REQUIRE(guard.is_installed());
        // Let the task reach its sleep, so the dump shows where it waits.
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto d = rt.dump();
            if (!d.empty() && d[0].state == weft::task_state::suspended) break;
            std::this_thread::sleep_for(5ms);
        }
        REQUIRE(std::raise(SIGQUIT) == 0);
        bool printed = cap.wait_for("'sigquit-parked'");
        text = cap.contents();
        guard.reset();
        CHECK_FALSE(guard.is_installed());
        cap.restore();
        INFO(text);
        REQUIRE(printed);
    }
    INFO(text);
    CHECK_THAT(text,
               Catch::Contains("weft: SIGQUIT: dump of the runtime: 2 workers, 1 alive tasks"));
    CHECK_THAT(text, Catch::Contains("1 task(s)\n"));
    CHECK_THAT(text, Catch::Contains(fmt::format("'sigquit-parked' [suspended] spawned at {}:",
                                                 std::source_location::current().file_name())));
    CHECK_THAT(
        text, Catch::Contains(fmt::format("waiting on sleep at {}:{}",
                                          std::source_location::current().file_name(), park_line)));
    // Uninstalled: SIGQUIT has its default action again.
    CHECK(is_default_action(SIGQUIT));
}

TEST_CASE("the SIGQUIT dump shows each parked task's stack", "[diagnostics][signal][backtrace]") {
    auto rt = weft::test::make_runtime(2);
    rt.block_on([] {
        weft::task_builder()
            .name("sigquit-deep")
            .spawn(weft_sigquit_test::park_in_a_named_sigquit_frame);
    });
    weft::test::stderr_capture cap;
    weft::signal_dump_guard guard = weft::dump_on_signal(rt.handle());
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto d = rt.dump();
        if (!d.empty() && d[0].state == weft::task_state::suspended) break;
        std::this_thread::sleep_for(5ms);
    }
    REQUIRE(std::raise(SIGQUIT) == 0);
    bool printed = cap.wait_for("weft_sigquit_test::park_in_a_named_sigquit_frame");
    std::string text = cap.contents();
    guard.reset();
    cap.restore();
    INFO(text);
    CHECK(printed);
    CHECK_THAT(text, Catch::Contains("'sigquit-deep' [suspended]"));
    CHECK_THAT(text, Catch::Contains("\n    #0 "));
}

TEST_CASE("dump_on_signal dumps on every delivery until uninstalled", "[diagnostics][signal]") {
    auto rt = weft::test::make_runtime(2);
    rt.block_on([] {
        for (int i = 0; i < 3; ++i)
            weft::task_builder().name(fmt::format("usr2-{}", i)).spawn(park_forever);
    });
    weft::test::stderr_capture cap;
    weft::signal_dump_guard guard = weft::dump_on_signal(rt.handle(), SIGUSR2);
    CHECK_FALSE(is_default_action(SIGUSR2));
    REQUIRE(std::raise(SIGUSR2) == 0);
    REQUIRE(cap.wait_for("'usr2-2'", 1));
    REQUIRE(std::raise(SIGUSR2) == 0);
    CHECK(cap.wait_for("'usr2-2'", 2));
    // Moving the guard keeps the installation.
    weft::signal_dump_guard moved = std::move(guard);
    CHECK_FALSE(guard.is_installed());  // NOLINT(bugprone-use-after-move)
    REQUIRE(moved.is_installed());
    REQUIRE(std::raise(SIGUSR2) == 0);
    CHECK(cap.wait_for("weft: SIGUSR2: dump of the runtime", 3));
    moved = weft::signal_dump_guard();  // move-assigning an empty guard uninstalls
    CHECK_FALSE(moved.is_installed());
    cap.restore();
    CHECK(is_default_action(SIGUSR2));
}

TEST_CASE("dump_on_signal coexists with weft::signal::wait for the same signal",
          "[diagnostics][signal]") {
    auto rt = weft::test::make_runtime(2);
    weft::test::stderr_capture cap;
    weft::signal_dump_guard guard = weft::dump_on_signal(rt.handle(), SIGUSR1);
    auto waiter = rt.spawn([] { return weft::signal::wait({SIGUSR1}); });
    // Wait until the waiter is parked in signal::wait (its set is then registered).
    auto deadline = std::chrono::steady_clock::now() + 5s;
    bool parked = false;
    while (!parked && std::chrono::steady_clock::now() < deadline) {
        for (const auto& t : rt.dump()) parked |= t.state == weft::task_state::suspended;
        if (!parked) std::this_thread::sleep_for(5ms);
    }
    REQUIRE(parked);
    REQUIRE(std::raise(SIGUSR1) == 0);
    CHECK(cap.wait_for("weft: SIGUSR1: dump of the runtime"));
    auto got = rt.block_on([&] { return weft::timeout(5s, [&] { return waiter.join(); }); });
    CHECK(got == SIGUSR1);
    guard.reset();
    cap.restore();
}

TEST_CASE("dump_on_signal rejects signals it cannot catch", "[diagnostics][signal]") {
    auto rt = weft::test::make_runtime(1);
    CHECK_THROWS_AS(weft::dump_on_signal(rt.handle(), SIGKILL), std::invalid_argument);
    CHECK_THROWS_AS(weft::dump_on_signal(rt.handle(), SIGSTOP), std::invalid_argument);
    CHECK_THROWS_AS(weft::dump_on_signal(rt.handle(), 0), std::invalid_argument);
    CHECK_THROWS_AS(weft::dump_on_signal(rt.handle(), 65), std::invalid_argument);
    weft::signal_dump_guard empty;
    CHECK_FALSE(empty.is_installed());
    empty.reset();
}

TEST_CASE("a dump_on_signal guard may outlive its runtime", "[diagnostics][signal]") {
    weft::signal_dump_guard guard;
    weft::test::stderr_capture cap;
    {
        auto rt = weft::test::make_runtime(2);
        guard = weft::dump_on_signal(rt.handle(), SIGUSR2);
    }
    REQUIRE(std::raise(SIGUSR2) == 0);
    CHECK(cap.wait_for("weft: SIGUSR2: dump of the runtime: 2 workers, 0 alive tasks"));
    guard.reset();
    cap.restore();
}
