// timer_heap (lib/time/timer_heap.hpp) against a reference model: random arm / disarm / fire
// sequences on a std::multiset ordered by (deadline, arming order). Deadlines come from a
// small range so ties are common: tied timers must fire in the order they were armed.
#include "time/timer_heap.hpp"

#include "support/harness.hpp"

#include <weft/detail/timer.hpp>
#include <weft/detail/waker.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <vector>

namespace {
using weft::detail::timer;
using weft::detail::timer_heap;
using tp = timer_heap::time_point;

// A waker target that records which timer fired, in firing order.
class recorder final : public weft::detail::wake_target {
   public:
    recorder(std::vector<int>& log, int id)
        : log_(log),
          id_(id) {}
    void unpark() noexcept override { log_.push_back(id_); }

   private:
    std::vector<int>& log_;
    int id_;
};

weft::detail::waker waker_for(std::vector<int>& log, int id) {
    auto* r = new recorder(log, id);
    weft::detail::waker w(r);  // takes its own reference
    r->release();
    return w;
}

tp at(std::int64_t ns) { return tp(std::chrono::nanoseconds(ns)); }
}  // namespace

TEST_CASE("timer_heap: random arm/disarm/fire sequences match a multiset model; ties fire in "
          "arming order",
          "[scheduler][timer_heap]") {
    // Two shapes of deadline: from a small range around now (ties common; about half land
    // before the last one armed, so both the sorted run and the heap fill, and firing merges
    // them), and rising with the step (almost all appended to the run, with enough timers and
    // disarms that its ring grows and its tombstones are compacted).
    struct shape {
        std::size_t timers;
        int steps;
        int rounds;
        bool rising;
    };
    const shape sh = GENERATE(shape{64, 400, 200, false}, shape{600, 20000, 8, true});
    const int rounds = static_cast<int>(weft::test::scaled(static_cast<std::size_t>(sh.rounds)));
    std::uint64_t rng = 0x9e3779b97f4a7c15ULL;
    auto next = [&rng](std::uint64_t n) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng % n;
    };
    for (int round = 0; round < rounds; ++round) {
        timer_heap heap;
        std::deque<timer> timers(sh.timers);  // stable addresses
        std::vector<int> fired_log;
        // Model: (deadline, arming sequence, timer index); armed[i] is i's key if queued.
        using key = std::tuple<std::int64_t, std::uint64_t, int>;
        std::set<key> model;
        std::map<int, key> armed;
        std::uint64_t seq = 0;
        std::int64_t now = 0;
        for (int step = 0; step < sh.steps; ++step) {
            std::uint64_t op = next(10);
            int i = static_cast<int>(next(timers.size()));
            if (op < 5) {
                // Arm (re-arm disarms first, as timer::arm does).
                if (auto it = armed.find(i); it != armed.end()) {
                    heap.remove(&timers[i]);
                    model.erase(it->second);
                    armed.erase(it);
                }
                std::int64_t d =
                    sh.rising ? 1000 + step +
                                    static_cast<std::int64_t>(next(64) == 0 ? next(900) : next(2))
                              : now + static_cast<std::int64_t>(next(8));  // ties are common
                heap.insert(&timers[i], at(d), waker_for(fired_log, i));
                key k{d, ++seq, i};
                model.insert(k);
                armed[i] = k;
            } else if (op < 7) {
                heap.remove(&timers[i]);  // disarm: a no-op when not queued
                if (auto it = armed.find(i); it != armed.end()) {
                    model.erase(it->second);
                    armed.erase(it);
                }
            } else {
                now += static_cast<std::int64_t>(next(sh.rising ? 6 : 4));
                std::vector<weft::detail::waker> out;
                heap.take_due(at(now), out);
                std::vector<int> expect;
                while (!model.empty() && std::get<0>(*model.begin()) <= now) {
                    int id = std::get<2>(*model.begin());
                    expect.push_back(id);
                    armed.erase(id);
                    model.erase(model.begin());
                }
                fired_log.clear();
                for (auto& w : out) w.wake();
                REQUIRE(fired_log == expect);
                for (int id : expect) CHECK(timers[id].fired());
            }
            REQUIRE(heap.size() == model.size());
            std::int64_t want = model.empty() ? timer_heap::none : std::get<0>(*model.begin());
            REQUIRE(heap.next_ns() == want);
        }
        for (auto& [i, k] : armed) heap.remove(&timers[i]);
        CHECK(heap.size() == 0);
        CHECK(heap.next_ns() == timer_heap::none);
    }
}
