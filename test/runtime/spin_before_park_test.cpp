// A worker that runs dry while its steals pay keeps looking for a few microseconds before it
// parks (worker::spin_for_work, docs/architecture.md "Workers and the scheduler", step 4). These
// check both sides of that trade: the waves of a fan-out find the thief still looking instead of
// asleep, and the look ends on its own, so a runtime whose other worker is busy with one long task,
// or that has gone idle after a burst, does not burn the idle core.
#include "support/harness.hpp"

#include <weft/runtime/builder.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

// The CPU time of every thread of this process so far.
std::chrono::nanoseconds process_cpu_time() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

struct cpu_use {
    std::chrono::nanoseconds cpu;
    std::chrono::nanoseconds wall;
};

// The process's CPU time and the wall time that `f` took.
template <class F>
cpu_use measure_cpu_use(F&& f) {
    const auto cpu_before = process_cpu_time();
    const auto wall_before = std::chrono::steady_clock::now();
    f();
    return {process_cpu_time() - cpu_before, std::chrono::steady_clock::now() - wall_before};
}

// Two workers, no warning for the tasks below that compute without suspending on purpose.
weft::runtime quiet_runtime() {
    return weft::builder::multi_thread().worker_threads(2).blocking_warning_threshold(0ns).build();
}

std::uint64_t total_parks(const weft::runtime& rt) {
    std::uint64_t n = 0;
    for (const auto& w : rt.metrics().per_worker) n += w.parks;
    return n;
}

// Waves of tasks that each compute for `work`: parallel work, whose steals pay. One task
// spawns each wave and waits for it without suspending (it watches a counter), then spawns
// the next at once: its worker is never free, so the other worker runs every task (it steals
// them) and, between two waves, has nothing to do for about two spawns' time, even under the
// sanitizers. Returns the parks during the last `waves`.
std::uint64_t fan_out_waves(weft::runtime& rt, int warm_up, int waves,
                            std::chrono::nanoseconds work) {
    return rt.block_on([&] {
        auto spawner = weft::spawn([&] {
            std::uint64_t parks_before = 0;
            std::atomic<int> left{0};
            for (int wave = 0; wave < warm_up + waves; ++wave) {
                if (wave == warm_up) parks_before = total_parks(rt);
                left.store(32, std::memory_order_relaxed);
                for (int i = 0; i < 32; ++i) {
                    weft::spawn([&left, work] {
                        weft::test::spin_for(work);
                        left.fetch_sub(1, std::memory_order_release);
                    });
                }
                // The last task spawned waits in the spawner's LIFO slot, which is never
                // stolen: a no-op takes its place there, so every counted task is in the
                // ring. (The next wave's first spawn moves the no-op to the ring too.)
                weft::spawn([] {});
                while (left.load(std::memory_order_acquire) != 0) {}
            }
            return total_parks(rt) - parks_before;
        });
        return spawner.join();
    });
}

}  // namespace

TEST_CASE("between the waves of a fan-out the thief keeps looking instead of parking",
          "[scheduler][spin]") {
    auto rt = quiet_runtime();
    // At least 100 waves, so that one preemption of the spawner (which a loaded machine does
    // at each scheduler tick) is a small part of the bound.
    const int waves = static_cast<int>(std::max<std::size_t>(weft::test::scaled(400), 100));
    // Parking at once, the thief parks at the end of most waves: 382-396 parks in 400 waves
    // (plain build), 41-71 in 100 under TSan, whose slow spawns sometimes bring the next wave
    // before the thief gets to park. Looking for 30 us first, it parks only when the machine
    // takes the spawner off its core: 0-7 in 400, 3 in 100 under TSan. A stretch of a shared
    // machine's noise can do that often for a while (a sanitizer build's waves are several
    // times longer, so they meet more of it: one TSan run saw 27-30 in three rounds in a
    // row): the look must keep parks under a third of the waves in one of five rounds,
    // which parking at once did in none of the nine rounds measured under TSan.
    constexpr int rounds = 5;
    const auto bound = static_cast<std::uint64_t>(waves) / 3;
    std::string seen;
    std::uint64_t parks = 0;
    for (int round = 0; round < rounds; ++round) {
        parks = fan_out_waves(rt, round == 0 ? 50 : 5, waves, 20us);
        seen += std::to_string(parks) + " ";
        if (parks <= bound) break;  // so the last round's count is the one judged
    }
    INFO("parks per round: " << seen << "over " << waves << " waves each");
    CHECK(parks <= bound);
}

TEST_CASE("the look before a park ends while the other worker runs one long task",
          "[scheduler][spin]") {
    auto rt = quiet_runtime();
    // Open the gate first: a fan-out whose steals pay.
    fan_out_waves(rt, 50, 50, 20us);
    // Then one task computes for a while and nothing else is runnable. The idle worker may
    // look for 30 us, then it must park: the process uses one core, not two.
    constexpr auto long_task = 300ms;
    const cpu_use use = measure_cpu_use([&] {
        rt.block_on([&] { weft::spawn([&] { weft::test::spin_for(long_task); }).join(); });
    });
    INFO("cpu " << use.cpu.count() / 1000 << " us over " << use.wall.count() / 1000
                << " us of wall time");
    CHECK(use.cpu < use.wall * 3 / 2);
}

TEST_CASE("a runtime idle after a fan-out parks its workers", "[scheduler][spin]") {
    auto rt = quiet_runtime();
    fan_out_waves(rt, 50, 50, 20us);
    // Nothing runs in the runtime meanwhile.
    const cpu_use use = measure_cpu_use([] { std::this_thread::sleep_for(200ms); });
    INFO("cpu " << use.cpu.count() / 1000 << " us over " << use.wall.count() / 1000
                << " us of wall time");
    CHECK(use.cpu < use.wall / 10);
}
