// Paused time: the clock moves only by advance() or, when every task is idle, by jumping to
// the next deadline; so these tests are exact and fast.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("a paused runtime sleeps an hour at once", "[time][paused]") {
    for (auto b :
         {weft::builder::current_thread(), weft::builder::multi_thread().worker_threads(2)}) {
        auto rt = b.start_paused(true).build();
        auto wall0 = std::chrono::steady_clock::now();
        auto virt = rt.block_on([] {
            auto t0 = weft::time::now();
            weft::sleep_for(1h);
            return weft::time::now() - t0;
        });
        CHECK(virt >= 1h);
        CHECK(virt < 1h + 1s);
        CHECK(std::chrono::steady_clock::now() - wall0 < 5s);
    }
}

TEST_CASE("paused timers fire in deadline order", "[time][paused]") {
    auto rt = weft::builder::current_thread().start_paused(true).build();
    auto order = rt.block_on([] {
        auto log = std::make_shared<std::vector<int>>();
        std::vector<weft::join_handle<void>> hs;
        for (int h : {3, 1, 2, 5, 4}) {
            hs.push_back(weft::spawn([log, h] {
                weft::sleep_for(std::chrono::hours(h));
                log->push_back(h);
            }));
        }
        for (auto& j : hs) j.join();
        return *log;
    });
    CHECK(order == std::vector<int>{1, 2, 3, 4, 5});
}

TEST_CASE("advance moves the paused clock and fires what is due", "[time][paused]") {
    auto rt = weft::builder::current_thread().build();
    auto r = rt.block_on([] {
        weft::time::pause();
        auto fired = std::make_shared<std::atomic<bool>>(false);
        auto t0 = weft::time::now();
        auto h = weft::spawn([fired] {
            weft::sleep_for(10s);
            fired->store(true);
        });
        weft::yield_now();  // let it arm its timer
        weft::time::advance(5s);
        bool early = fired->load();
        weft::time::advance(5s);
        bool on_time = fired->load();
        h.join();
        return std::make_tuple(early, on_time, weft::time::now() - t0);
    });
    CHECK_FALSE(std::get<0>(r));
    CHECK(std::get<1>(r));
    CHECK(std::get<2>(r) == 10s);
}

TEST_CASE("resume lets the clock run on from the paused instant", "[time][paused]") {
    auto rt = weft::builder::current_thread().start_paused(true).build();
    auto r = rt.block_on([] {
        auto t0 = weft::time::now();
        weft::time::advance(1h);
        weft::time::resume();
        auto t1 = weft::time::now();
        weft::sleep_for(5ms);  // a real sleep now
        auto t2 = weft::time::now();
        return std::make_pair(t1 - t0, t2 - t1);
    });
    CHECK(r.first >= 1h);
    CHECK(r.first < 1h + 1s);
    CHECK(r.second >= 5ms);
}

TEST_CASE("time control outside a runtime or unpaused is an error", "[time][paused]") {
    CHECK_THROWS_AS(weft::time::pause(), weft::no_runtime);
    CHECK_THROWS_AS(weft::time::advance(1s), weft::no_runtime);
    auto rt = weft::builder::current_thread().build();
    CHECK_THROWS_AS(rt.block_on([] { weft::time::advance(1s); }), std::logic_error);
}

TEST_CASE("the paused clock does not jump while blocking-pool work runs", "[time][paused]") {
    auto rt = weft::builder::multi_thread().worker_threads(2).start_paused(true).build();
    bool saw_done = rt.block_on([] {
        auto done = std::make_shared<std::atomic<bool>>(false);
        auto b = weft::spawn_blocking([done] {
            std::this_thread::sleep_for(50ms);
            done->store(true);
        });
        weft::sleep_for(1h);
        bool seen = done->load();
        b.join();
        return seen;
    });
    CHECK(saw_done);
}

TEST_CASE("timers removed from anywhere in the heap leave the rest firing exactly, in order",
          "[time][paused]") {
    // Aborting a sleeper removes its timer from the middle of its worker's heap; the others
    // must still fire at their own deadlines, ties in arming order.
    auto rt = weft::builder::current_thread().start_paused(true).build();
    struct woke {
        int index;
        int armed;  // arming order, which breaks deadline ties
        std::chrono::seconds deadline;
        std::chrono::nanoseconds late;
    };
    auto log = rt.block_on([] {
        auto log = std::make_shared<std::vector<woke>>();
        auto arming = std::make_shared<int>(0);
        auto t0 = weft::time::now();
        std::vector<weft::join_handle<void>> hs;
        std::uint32_t x = 12345;
        for (int i = 0; i < 3000; ++i) {
            x = x * 1103515245U + 12345U;
            auto d = std::chrono::seconds(1 + (x >> 16) % 400);  // many ties
            hs.push_back(weft::spawn([log, arming, i, d, t0] {
                int armed = (*arming)++;  // one thread: sleep_until arms right after this
                weft::sleep_until(t0 + d);
                log->push_back({i, armed, d, weft::time::now() - (t0 + d)});
            }));
        }
        for (int spins = 0; *arming < 3000 && spins < 100'000; ++spins) weft::yield_now();
        for (std::size_t i = 0; i < hs.size(); i += 3) hs[i].abort();
        for (auto& h : hs) {
            try {
                h.join();
            } catch (const weft::join_error&) {}
        }
        return *log;
    });
    REQUIRE(log.size() == 2000);
    for (std::size_t k = 0; k < log.size(); ++k) {
        INFO("wake " << k << " task " << log[k].index);
        CHECK(log[k].index % 3 != 0);
        CHECK(log[k].late == 0ns);
        if (k > 0) {
            bool ordered =
                log[k - 1].deadline < log[k].deadline ||
                (log[k - 1].deadline == log[k].deadline && log[k - 1].armed < log[k].armed);
            CHECK(ordered);
        }
    }
}

TEST_CASE("the paused clock does not jump while a task woken by a blocking job is runnable",
          "[time][paused]") {
    // A pinned task joins a blocking job while another task sleeps an hour at a time. When
    // the job ends its joiner is runnable (in its worker's pinned inbox); the clock may jump
    // only once no task is runnable, so no join may see the hour go by.
    auto rt = weft::builder::multi_thread().worker_threads(2).start_paused(true).build();
    auto jumps = rt.block_on([] {
        auto stop = std::make_shared<std::atomic<bool>>(false);
        auto sleeper = weft::spawn([stop] {
            while (!stop->load()) weft::sleep_for(1h);
        });
        auto prober = weft::spawn_local([] {
            int jumps = 0;
            for (int round = 0; round < 300; ++round) {
                auto t0 = weft::time::now();
                weft::spawn_blocking([] {
                    std::this_thread::sleep_for(std::chrono::microseconds(50));
                }).join();
                if (weft::time::now() - t0 >= 1h) ++jumps;
            }
            return jumps;
        });
        int n = prober.join();
        stop->store(true);
        sleeper.abort();
        return n;
    });
    CHECK(jumps == 0);
}

TEST_CASE("on several workers every paused sleep wakes at its exact deadline", "[time][paused]") {
    // Sleepers on two workers, deadlines spread and tied. The clock may jump only when no
    // task is runnable, so a woken sleeper must run before the next jump: any jump while one
    // waited (a second advancer not seeing the first one's woken tasks, or a parked worker
    // firing timers onto a list nobody else looks at) shows up as a late wake.
    auto rt = weft::builder::multi_thread().worker_threads(2).start_paused(true).build();
    const int tasks = 40;
    const int rounds = static_cast<int>(weft::test::scaled(150));
    auto late = rt.block_on([tasks, rounds] {
        std::vector<weft::join_handle<int>> hs;
        for (int i = 0; i < tasks; ++i) {
            hs.push_back(weft::spawn([i, rounds] {
                int late = 0;
                std::uint32_t x = 7919U * static_cast<std::uint32_t>(i + 1);
                for (int r = 0; r < rounds; ++r) {
                    x = x * 1103515245U + 12345U;
                    auto d = std::chrono::milliseconds(1 + (x >> 16) % 20);  // many ties
                    auto t0 = weft::time::now();
                    weft::sleep_for(d);
                    if (weft::time::now() - t0 != d) ++late;
                }
                return late;
            }));
        }
        int n = 0;
        for (auto& h : hs) n += h.join();
        return n;
    });
    CHECK(late == 0);
}
