// Helpers for the stress suite (test/stress): sizing, bounded waits on plain threads, memory
// and descriptor readings, a one-line report per test, and running this executable again as
// a child process for tests whose expected outcome ends the process.
//
// Sizing: size(full) = full * WEFT_STRESS_SCALE / 100 / WEFT_STRESS_DIVISOR (at least `floor`).
// `scripts/test --stress` runs the suite at WEFT_STRESS_SCALE (100 in the plain build, 20 under
// ASan, 10 under TSan) with no divisor; the `stress_ci_*` copies in suite `unit` set
// WEFT_STRESS_DIVISOR so the same tests run at a fraction of that size in every CI build.
#pragma once

#include "support/harness.hpp"

#include <weft/runtime.hpp>

#include <fmt/format.h>

#include <sys/resource.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace weft::stress {

/// WEFT_STRESS_DIVISOR (default 1): the CI copies of the suite divide every size by it.
inline std::size_t divisor() {
    const char* env = std::getenv("WEFT_STRESS_DIVISOR");
    long d = env ? std::atol(env) : 1;
    return d < 1 ? 1 : static_cast<std::size_t>(d);
}

/// The size a test runs at: `full` scaled by WEFT_STRESS_SCALE and divided by
/// WEFT_STRESS_DIVISOR, never below `floor` (some tests need a minimum to mean anything).
inline std::size_t size(std::size_t full, std::size_t floor = 1) {
    std::size_t v = weft::test::scaled(full) / divisor();
    return v < floor ? floor : v;
}

/// Under TSan every live fiber costs about 0.8 MiB of RSS and 9 memory mappings (TSan's own
/// per-fiber state), so past ~7000 live fibers the mappings exceed vm.max_map_count (65530)
/// and TSan aborts with ENOMEM; fiber creation is also ~100x slower. Tests whose tasks are
/// all alive at once cap their count there (docs/reliability.md, "Known limits").
#if defined(__SANITIZE_THREAD__)
inline constexpr bool under_tsan = true;
#else
inline constexpr bool under_tsan = false;
#endif
inline constexpr std::size_t tsan_live_cap = 2000;

/// size(full, floor), capped at `tsan_cap` under TSan (see above).
inline std::size_t live_size(std::size_t full, std::size_t floor = 1,
                             std::size_t tsan_cap = tsan_live_cap) {
    std::size_t v = size(full, floor);
    return under_tsan && v > tsan_cap ? tsan_cap : v;
}

/// One line on stdout naming what a test ran (the counts in docs/reliability.md come from
/// these lines in the full run). Flushed at once so a later crash does not swallow it.
template <class... Args>
void report(fmt::format_string<Args...> f, Args&&... args) {
    std::string line = fmt::format(f, std::forward<Args>(args)...);
    std::fprintf(stdout, "stress: %s\n", line.c_str());
    std::fflush(stdout);
}

/// Polls `pred` from a plain thread until it holds or `limit` passes.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

/// Resident set size of this process, in bytes (/proc/self/statm).
std::size_t rss_bytes();

/// Memory mappings of this process (lines of /proc/self/maps), to compare with
/// vm.max_map_count.
std::size_t map_count();

/// Open descriptors of this process (/proc/self/fd, minus the one listing it).
std::size_t open_fds();

/// Raises the soft RLIMIT_NOFILE to `want` (at most the hard limit); returns the soft limit now
/// in force. Used by the socket storms, which need two descriptors per connection.
std::size_t raise_fd_limit(std::size_t want);

/// Suspended tasks of `rt` whose waiting_on equals `what` (one dump; costly for big runs).
std::size_t parked_in(const weft::runtime& rt, std::string_view what);

/// Waits (from a plain thread, at most `limit`) until at least `n` tasks of `rt` are parked in
/// `what`; returns how many were.
std::size_t wait_parked(const weft::runtime& rt, std::string_view what, std::size_t n,
                        std::chrono::milliseconds limit = std::chrono::seconds(60));

/// Waits until the runtime reports no live task (detached tasks finish on their own).
bool wait_no_tasks(const weft::runtime& rt, std::size_t allowed = 0,
                   std::chrono::milliseconds limit = std::chrono::seconds(30));

/// How a child run ended.
struct child_result {
    bool exited = false;  ///< exited normally (status below), else killed by `signal`
    int status = -1;
    int signal = 0;
    bool timed_out = false;  ///< killed by us after the limit
    std::string output;      ///< its stderr and stdout, interleaved
};

/// Runs this test executable again with only the test case `test_name`, with
/// WEFT_STRESS_CHILD=`role` in its environment, and waits at most `limit` for it.
child_result run_child(const std::string& test_name, const std::string& role,
                       std::chrono::milliseconds limit = std::chrono::seconds(60));

/// The role this process runs in (WEFT_STRESS_CHILD), empty in the normal test run.
std::string child_role();

/// Exit code of the std::terminate handler the suite installs (see stress_support.cpp).
inline constexpr int terminate_exit_code = 3;

}  // namespace weft::stress
