// hello: a first tour of weft. It starts a runtime with two worker threads, then from one task
// spawns a few children that sleep for different times, one that fails and one that is aborted
// while it sleeps, joins them all, and prints what each did. The sleeps overlap: a task that
// sleeps suspends only its own fiber, and the worker runs the others meanwhile.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

long ms_since(clock_type::time_point t0) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count());
}

}  // namespace

int main() {
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    const auto t0 = clock_type::now();

    rt.block_on([t0] {
        std::printf("[%4ld ms] main task %llu: spawning 4 sleepers, 1 failing task, 1 to abort\n",
                    ms_since(t0), static_cast<unsigned long long>(weft::this_task::id()));

        std::vector<weft::join_handle<std::string>> sleepers;
        for (int i = 1; i <= 4; ++i) {
            sleepers.push_back(weft::spawn([i, t0] {
                const auto nap = 100ms * i;
                weft::sleep_for(nap);
                return "sleeper " + std::to_string(i) + " (task " +
                       std::to_string(weft::this_task::id()) + ") woke after " +
                       std::to_string(nap.count()) + " ms, at " + std::to_string(ms_since(t0)) +
                       " ms";
            }));
        }
        weft::join_handle<int> failing =
            weft::spawn([]() -> int { throw std::runtime_error("something went wrong"); });
        weft::join_handle<void> doomed = weft::spawn([] { weft::sleep_for(1h); });

        weft::sleep_for(10ms);
        doomed.abort();  // it is parked in sleep_for: the abort wakes it and unwinds its stack

        for (auto& s : sleepers) {
            std::string report = s.join();
            std::printf("[%4ld ms] %s\n", ms_since(t0), report.c_str());
        }

        try {
            failing.join();
        } catch (const weft::join_error& e) {
            std::printf(
                "[%4ld ms] the failing task's join threw join_error (is_exception=%d): %s\n",
                ms_since(t0), e.is_exception(), e.what());
        }
        try {
            doomed.join();
        } catch (const weft::join_error& e) {
            std::printf("[%4ld ms] the aborted task's join threw join_error (is_cancelled=%d)\n",
                        ms_since(t0), e.is_cancelled());
        }
    });

    std::printf("[%4ld ms] done (one after another, the four sleeps would have taken 1000 ms)\n",
                ms_since(t0));
    return 0;
}
