// Fairness as a tested promise (docs/architecture.md, "Fairness"): with a chatty pair of tasks
// keeping a worker's LIFO slot busy (each wakes the other, so every wake lands in the slot),
// work from every other source still runs within a bounded number of scheduler ticks: the
// global queue, the pinned inbox, the timer-ready list, I/O completions, blocking-pool wakes
// and the local ring. On 1 and on 2 workers.
//
// The pairs stop by themselves after a few seconds, so a starved probe fails its bound
// instead of hanging the test; every wait below is bounded.
#include "support/harness.hpp"

#include <weft/asio.hpp>
#include <weft/detail/fault_injection.hpp>
#include <weft/sync.hpp>

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// How long a probe may take once runnable: far above what a fair scheduler needs (the
// measured figures are microseconds), far below the pairs' own lifetime.
constexpr auto latency_bound = 1s;
constexpr auto pair_lifetime = 6s;

// Shuffle mode (WEFT_SHUFFLE, lib/scheduler/shuffle.hpp) perturbs the tick order on purpose.
bool shuffled() { return std::getenv("WEFT_SHUFFLE") != nullptr; }

std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// The calling thread's kernel id (a task that never suspends stays on one thread).
pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Whether a thread of this process named `name`, other than `self`, sleeps in the kernel
// ('S' or 'D' in /proc/self/task/TID/stat): a parked worker. A worker that was notified is
// 'R' from the moment of the wake-up, whether or not the machine has a CPU for it.
bool peer_workers_asleep(const std::string& name, pid_t self) {
    bool asleep = false;
    DIR* d = ::opendir("/proc/self/task");
    if (!d) return false;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.' || std::atoi(e->d_name) == self) continue;
        std::string dir = std::string("/proc/self/task/") + e->d_name;
        std::ifstream comm(dir + "/comm");
        std::string c;
        if (!std::getline(comm, c) || c != name) continue;
        std::ifstream stat(dir + "/stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        auto close = line.rfind(')');  // the name may hold spaces; the state follows it
        if (close != std::string::npos && close + 2 < line.size()) {
            char state = line[close + 2];
            if (state == 'S' || state == 'D') asleep = true;
        }
    }
    ::closedir(d);
    return asleep;
}

// Each worker's poll count (tasks run), in worker order.
std::vector<std::uint64_t> polls_per_worker(const weft::runtime& rt) {
    std::vector<std::uint64_t> polls;
    for (const auto& w : rt.metrics().per_worker) polls.push_back(w.polls);
    return polls;
}

// The fewest tasks any one worker ran between `before` and `after` (0 for a worker whose
// count did not move, or when `after` was read first). The tick bounds are per worker: the
// worker that takes a probe does so within its own bound, while the others go on running
// tasks until the probe's first instruction. Under TSan that start (a fiber, its shadow
// state) took long enough for the peer to run 400-1400 tasks, which a sum over the workers
// counted against the bound; a plain run saw 173.
std::uint64_t fewest_polls(const std::vector<std::uint64_t>& before,
                           const std::vector<std::uint64_t>& after) {
    REQUIRE(before.size() == after.size());
    std::uint64_t fewest = UINT64_MAX;
    for (std::size_t i = 0; i < before.size(); ++i) {
        fewest = std::min(fewest, after[i] > before[i] ? after[i] - before[i] : 0);
    }
    return fewest;
}

// Two tasks that wake each other through two notify objects until `stop` is set or their
// lifetime is over. Ordinary tasks: each wake puts the partner in the waker's LIFO slot, so
// the pair settles on one worker and keeps its slot busy. `at_steady_state` runs once, inside
// member a, after 1000 rounds: on the pair's worker, so a spawn_local there pins beside it.
struct chatty_pair {
    std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<std::atomic<std::uint64_t>> rounds =
        std::make_shared<std::atomic<std::uint64_t>>(0);
    std::function<void()> at_steady_state;
    weft::join_handle<void> a, b;

    void start() {
        auto na = std::make_shared<weft::notify>();
        auto nb = std::make_shared<weft::notify>();
        auto until = std::chrono::steady_clock::now() + pair_lifetime;
        auto member = [stop = stop, rounds = rounds, until](std::shared_ptr<weft::notify> mine,
                                                            std::shared_ptr<weft::notify> other,
                                                            std::function<void()> hook) {
            std::uint64_t mine_rounds = 0;
            while (!stop->load(std::memory_order_relaxed) &&
                   std::chrono::steady_clock::now() < until) {
                other->notify_one();
                mine->notified();
                rounds->fetch_add(1, std::memory_order_relaxed);
                if (++mine_rounds == 1000 && hook) hook();
            }
            stop->store(true);
            other->notify_one();  // the partner may be parked: let it see `stop`
        };
        a = weft::spawn([member, na, nb, hook = at_steady_state] { member(na, nb, hook); });
        b = weft::spawn([member, na, nb] { member(nb, na, nullptr); });
    }
    void finish() {
        stop->store(true);
        a.join();
        b.join();
    }
};

struct probe_result {
    std::chrono::steady_clock::time_point ran{};
    std::vector<std::uint64_t> polls;  // per worker, read by the probe itself
};

// Waits (bounded) for a probe's result.
probe_result wait_probe(std::future<probe_result>& f) {
    REQUIRE(f.wait_for(pair_lifetime + 2s) == std::future_status::ready);
    return f.get();
}

// Starts a chatty pair on each of `pairs` tasks' workers (a task spawns and pins each pair),
// waits until they are exchanging, runs `body`, then stops them.
template <class Body>
void with_chatty_pairs(weft::runtime& rt, int pairs, Body&& body) {
    std::vector<chatty_pair> ps(static_cast<std::size_t>(pairs));
    for (auto& p : ps) {
        rt.block_on([&p] { p.start(); });
    }
    auto deadline = std::chrono::steady_clock::now() + 2s;
    for (auto& p : ps) {
        while (p.rounds->load() < 1000 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        REQUIRE(p.rounds->load() >= 1000);
    }
    body();
    for (auto& p : ps) p.stop->store(true);
    rt.block_on([&ps] {
        for (auto& p : ps) p.finish();
    });
}

}  // namespace

TEST_CASE("a task from the global queue runs within bounded ticks while a pair ping-pongs",
          "[runtime][fairness]") {
    for (int workers : {1, 2}) {
        CAPTURE(workers);
        auto rt = weft::test::make_runtime(static_cast<std::size_t>(workers));
        with_chatty_pairs(rt, workers, [&] {
            for (int round = 0; round < 5; ++round) {
                auto promise = std::make_shared<std::promise<probe_result>>();
                auto f = promise->get_future();
                auto t0 = std::chrono::steady_clock::now();
                rt.spawn([promise, &rt] {
                    promise->set_value({std::chrono::steady_clock::now(), polls_per_worker(rt)});
                });
                // Counted from when the task is queued (spawn returned), not from before the
                // spawn: a slow spawn (a sanitizer build) must not count against the bound.
                // The probe may have run already; then it is within the bound trivially.
                std::vector<std::uint64_t> polls0 = polls_per_worker(rt);
                probe_result r = wait_probe(f);
                CHECK(r.ran - t0 < latency_bound);
                // Every 61st tick of a worker takes the global queue first, so the worker that
                // takes the probe has run at most 61 tasks since it was queued (plus the
                // probe). Shuffle mode runs ticks of its own (extra yields, spurious wake-ups)
                // and reorders the rest, so there only the latency bound above is the promise.
                if (!shuffled()) CHECK(fewest_polls(polls0, r.polls) <= 61 + 8);
            }
        });
    }
}

TEST_CASE("a pinned task woken from a plain thread runs within bounded ticks while a pair "
          "ping-pongs on its worker",
          "[runtime][fairness]") {
    for (int workers : {1, 2}) {
        CAPTURE(workers);
        auto rt = weft::test::make_runtime(static_cast<std::size_t>(workers));
        chatty_pair pair;
        auto n = std::make_shared<weft::notify>();
        auto promise = std::make_shared<std::promise<probe_result>>();
        auto f = promise->get_future();
        auto pinned = std::make_shared<weft::join_handle<void>>();
        auto pinned_ready = std::make_shared<std::atomic<bool>>(false);
        pair.at_steady_state = [n, promise, pinned, pinned_ready, &rt] {
            *pinned = weft::spawn_local([n, promise, &rt] {
                n->notified();
                promise->set_value({std::chrono::steady_clock::now(), polls_per_worker(rt)});
            });
            pinned_ready->store(true);
        };
        rt.block_on([&] { pair.start(); });
        auto deadline = std::chrono::steady_clock::now() + 2s;
        while (!pinned_ready->load() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        REQUIRE(pinned_ready->load());
        std::this_thread::sleep_for(5ms);  // parked in notified() by now
        auto t0 = std::chrono::steady_clock::now();
        n->notify_one();  // from this plain thread: the owner's pinned inbox
        // From when it is in the inbox (see above).
        std::vector<std::uint64_t> polls0 = polls_per_worker(rt);
        probe_result r = wait_probe(f);
        CHECK(r.ran - t0 < latency_bound);
        // The inbox is looked at on every tick once the LIFO slot has had its 3 runs, so the
        // probe's own worker runs it within a few of its ticks. On two workers the pair may
        // move to the peer (the LIFO cap's move notifies it), whose ticks are not the
        // probe's: a loaded run counted 6,292 over both workers while the probe's worker
        // waited for a CPU. Hence the fewest, not the sum.
        if (!shuffled()) CHECK(fewest_polls(polls0, r.polls) <= 64);
        rt.block_on([&] {
            pair.finish();
            pinned->join();
        });
    }
}

TEST_CASE("timers, blocking-pool wakes, I/O completions and the ring make progress while a "
          "pair ping-pongs on the same worker",
          "[runtime][fairness]") {
    for (int workers : {1, 2}) {
        CAPTURE(workers);
        auto rt = weft::test::make_runtime(static_cast<std::size_t>(workers));
        chatty_pair pair;
        namespace local = boost::asio::local;
        local::stream_protocol::socket theirs(rt.get_executor());
        local::stream_protocol::socket ours(rt.get_executor());
        local::connect_pair(theirs, ours);

        struct latencies {
            std::chrono::nanoseconds timer{}, blocking{}, io{};
            std::uint64_t yields = 0;
        };
        auto result = std::make_shared<std::promise<latencies>>();
        auto f = result->get_future();
        std::atomic<bool> io_armed{false};
        auto wrote_at = std::make_shared<std::atomic<std::int64_t>>(0);
        auto prober = std::make_shared<weft::join_handle<void>>();
        // Pinned beside the pair, so every wake it gets competes with the pair's slot.
        pair.at_steady_state = [&, result, wrote_at, prober] {
            *prober = weft::spawn_local([&, result, wrote_at] {
                latencies l;
                auto t0 = std::chrono::steady_clock::now();
                weft::sleep_for(1ms);
                l.timer = std::chrono::steady_clock::now() - t0 - 1ms;

                t0 = std::chrono::steady_clock::now();
                weft::spawn_blocking([] {}).join();
                l.blocking = std::chrono::steady_clock::now() - t0;

                // A third party yielding through the ring (spawned here, so it starts on this
                // worker; on two workers it may be stolen, which is progress too).
                auto stop_yielder = std::make_shared<std::atomic<bool>>(false);
                auto yields = std::make_shared<std::atomic<std::uint64_t>>(0);
                auto yielder = weft::spawn([stop_yielder, yields] {
                    while (!stop_yielder->load()) {
                        weft::yield_now();
                        yields->fetch_add(1);
                    }
                });

                char byte = 0;
                io_armed.store(true);
                ours.async_read_some(boost::asio::buffer(&byte, 1), weft::use_fiber);
                auto now_ns = std::chrono::steady_clock::now().time_since_epoch().count();
                l.io = std::chrono::nanoseconds(now_ns - wrote_at->load());

                weft::sleep_for(50ms);
                stop_yielder->store(true);
                yielder.join();
                l.yields = yields->load();
                result->set_value(l);
            });
        };
        rt.block_on([&] { pair.start(); });
        auto deadline = std::chrono::steady_clock::now() + 2s;
        while (!io_armed.load() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        REQUIRE(io_armed.load());
        std::this_thread::sleep_for(5ms);  // the read is parked in the reactor by now
        wrote_at->store(std::chrono::steady_clock::now().time_since_epoch().count());
        char one = 1;
        boost::asio::write(theirs, boost::asio::buffer(&one, 1));
        REQUIRE(f.wait_for(pair_lifetime + 2s) == std::future_status::ready);
        latencies l = f.get();
        CHECK(l.timer < latency_bound);
        CHECK(l.blocking < latency_bound);
        CHECK(l.io < latency_bound);
        CHECK(l.yields > 10);  // 50 ms of ring turns beside the pair
        CHECK(pair.rounds->load() > 1000);
        rt.block_on([&] {
            pair.finish();
            prober->join();
        });
    }
}

// What counts as stranded: x is runnable (its notify returned) while the peer worker's thread
// sleeps in the kernel, sampled for 50 ms in a row. A slow round alone proves nothing on a
// loaded machine: the racer may not get a CPU to send the notify, or the woken peer may not
// get one to run x (one fresh-clone CI run saw 1 round in 1,500 take over 500 ms, with the
// notify below in place, while other test binaries ran beside it). A sleeping peer is the
// scheduler's fault: a notify makes its thread runnable at once, whether or not it runs.
TEST_CASE("a task woken while it switches out is not stranded behind its worker's next task",
          "[runtime][fairness]") {
    // x waits on a notify that a plain thread fires at about the moment x parks; right behind
    // x in its worker's LIFO slot is b, which spins until x runs again (1 s at most). A wake
    // that lands while x is still switching out makes x runnable again in its worker's ring:
    // the idle peer must be told, or x waits for b's whole spin (it did: a sleep that fired
    // during its own switch-out returned after 1.5 s instead of 5 ms).
    const std::string name = "weft-strand";
    auto rt = weft::builder::multi_thread().worker_threads(2).thread_name(name).build();
    const int rounds = static_cast<int>(weft::test::scaled(1500));
    std::atomic<int> go{-1};
    std::atomic<int> done{-1};
    std::atomic<int> woken{-1};             // the round whose notify_one returned...
    std::atomic<std::int64_t> woken_at{0};  // ...and when (steady clock, ns)
    std::atomic<int> ran{-1};               // the round whose x returned from its wait
    std::atomic<weft::notify*> slot{nullptr};
    std::atomic<bool> quit{false};
    std::thread racer([&] {
        std::uint32_t x = 12345;
        for (int round = 0; round < rounds && !quit.load();) {
            if (go.load() != round) {
                std::this_thread::yield();
                continue;
            }
            x = x * 1103515245U + 12345U;
            for (std::uint32_t spin = (x >> 16) % 2000; spin > 0; --spin) {
                asm volatile("" ::: "memory");  // scan the window around x's switch-out
            }
            slot.load()->notify_one();
            woken_at.store(steady_ns());
            woken.store(round);
            done.store(round);
            ++round;
        }
    });
    struct tally {
        int stranded = 0;
        int slow = 0;
    };
    std::atomic<int> stranded{0};
    std::atomic<int> stranded_round{-1};
    auto t = rt.block_on([&] {
        tally t;
        for (int round = 0; round < rounds; ++round) {
            auto waited =
                weft::spawn([&, round] {
                    auto release = std::make_shared<std::atomic<bool>>(false);
                    auto b = weft::spawn([&, release, round] {
                        const std::int64_t t0 = steady_ns();
                        const pid_t self = current_tid();
                        int asleep = 0;  // consecutive samples with the peer asleep
                        std::int64_t next_sample = 0;
                        while (!release->load() && steady_ns() - t0 < 1'000'000'000) {
                            if (woken.load() != round || ran.load() == round) continue;
                            const std::int64_t now = steady_ns();
                            if (now < next_sample || now - woken_at.load() < 10'000'000) continue;
                            next_sample = now + 2'000'000;
                            asleep = peer_workers_asleep(name, self) ? asleep + 1 : 0;
                            if (asleep == 25) {
                                stranded.fetch_add(1);        // reported after the run (Catch2 is
                                stranded_round.store(round);  // not for worker threads)
                            }
                        }
                    });
                    weft::notify n;
                    slot.store(&n);
                    go.store(round);
                    n.notified();
                    ran.store(round);
                    const std::int64_t waited = steady_ns() - woken_at.load();
                    release->store(true);
                    // The racer touches `n` until it reports the round done.
                    for (int spins = 0; done.load() != round && spins < 1'000'000; ++spins) {
                        std::this_thread::yield();
                    }
                    b.join();
                    return waited;
                }).join();
            if (waited > 500'000'000) ++t.slow;
        }
        return t;
    });
    quit = true;
    racer.join();
    if (t.slow > 0) {
        WARN(t.slow << " of " << rounds << " rounds took over 500 ms from the notify to x "
                    << "running; " << stranded.load() << " of them with the peer asleep");
    }
    INFO("the last stranded round: " << stranded_round.load());
    CHECK(stranded.load() == 0);
}

TEST_CASE("a task the LIFO cap moves to the ring is not stranded behind its worker's next task",
          "[runtime][fairness]") {
    // A pair ping-pongs through one worker's LIFO slot; a pinned task that then holds that
    // worker for up to 1 s becomes runnable beside it. The cap moves the pair's LIFO task to
    // the ring so that the pinned one gets its turn: from there the moved task is stealable,
    // and the parked peer must be told of it, or the pair stops for the whole second (it did:
    // the move notified nobody). Stranded means what it means above: the pair makes no
    // progress while the peer worker's thread sleeps, 25 samples in a row.
    const std::string name = "weft-lifo-cap";
    auto rt = weft::builder::multi_thread().worker_threads(2).thread_name(name).build();
    struct outcome {
        bool stranded = false;
        std::uint64_t progressed = 0;
    };
    auto promise = std::make_shared<std::promise<outcome>>();
    auto f = promise->get_future();
    chatty_pair pair;
    pair.at_steady_state = [promise, rounds = pair.rounds, name] {
        weft::spawn_local([promise, rounds, name] {
            const pid_t self = current_tid();
            const std::uint64_t at_start = rounds->load();
            const std::int64_t start = steady_ns();
            outcome o;
            int asleep = 0;
            std::uint64_t seen = at_start;
            std::int64_t next_sample = start + 10'000'000;
            while (steady_ns() - start < 1'000'000'000) {
                const std::uint64_t r = rounds->load();
                if (r >= at_start + 100) break;  // the pair goes on beside us
                const std::int64_t now = steady_ns();
                if (now < next_sample) continue;
                next_sample = now + 2'000'000;
                asleep = (r == seen && peer_workers_asleep(name, self)) ? asleep + 1 : 0;
                seen = r;
                if (asleep == 25) {
                    o.stranded = true;
                    break;
                }
            }
            o.progressed = rounds->load() - at_start;
            promise->set_value(o);
        });
    };
    rt.block_on([&] { pair.start(); });
    REQUIRE(f.wait_for(pair_lifetime + 2s) == std::future_status::ready);
    const outcome o = f.get();
    rt.block_on([&] { pair.finish(); });
    if (!o.stranded && o.progressed < 100) {
        WARN("inconclusive: the pair made " << o.progressed
                                            << " rounds while the pinned task held its worker, "
                                               "and the peer was never seen asleep");
    }
    CHECK_FALSE(o.stranded);
}

TEST_CASE("a task queued unheard behind a worker that one task holds is taken by the parked "
          "peer within the monitor's interval",
          "[runtime][fairness]") {
    // Every queueing into a ring notifies a parked peer; should one ever not (a protocol bug,
    // or a notify skipped on purpose: a yield's skip was tried and reverted, docs/
    // performance.md), the task sits in the ring while the peer sleeps, unheard of. What
    // bounds that wait: the monitor, seeing a worker held by one task with tasks in its ring,
    // tells a parked peer. The lost_notify fault point drops a notify: the holder spawns v,
    // then w, which takes the LIFO slot and moves v to the ring, unheard of; then it spins
    // without suspending until v has run (3 s at most). Without the monitor's look, v waits
    // for the whole spin.
    namespace fault = weft::detail::fault;
    const std::string name = "weft-unheard";
    auto rt = weft::builder::multi_thread()
                  .worker_threads(2)
                  .thread_name(name)
                  .blocking_warning_threshold(20ms)  // samples every 10 ms
                  .build();
    fault::reset_on_exit disarm;
    struct outcome {
        bool peer_slept = false;
        std::uint64_t dropped = 0;  // notifies the fault point dropped
        bool ran = false;
        std::int64_t waited_ns = 0;
        pid_t holder = 0;
        pid_t runner = 0;
    };
    const outcome o = rt.block_on([&] {
        return weft::spawn([&] {
                   outcome o;
                   o.holder = current_tid();
                   const std::int64_t t0 = steady_ns();
                   while (!(o.peer_slept = peer_workers_asleep(name, o.holder)) &&
                          steady_ns() - t0 < 2'000'000'000) {}
                   std::atomic<std::int64_t> ran_at{0};
                   std::atomic<pid_t> runner{0};
                   fault::arm(fault::point::lost_notify, 1, 1'000'000);
                   auto v = weft::spawn([&] {
                       runner.store(current_tid());
                       ran_at.store(steady_ns());
                   });
                   const std::int64_t queued_at = steady_ns();
                   auto w = weft::spawn([] {});
                   o.dropped = fault::injected(fault::point::lost_notify);
                   while (ran_at.load() == 0 && steady_ns() - queued_at < 3'000'000'000) {}
                   fault::reset();
                   o.ran = ran_at.load() != 0;
                   o.waited_ns = o.ran ? ran_at.load() - queued_at : steady_ns() - queued_at;
                   v.join();  // it touches ran_at and runner until it returns
                   w.join();
                   o.runner = runner.load();
                   return o;
               })
            .join();
    });
    INFO("the peer was seen asleep: " << o.peer_slept << "; notifies dropped: " << o.dropped
                                      << "; v waited " << o.waited_ns / 1'000'000 << " ms");
    REQUIRE(o.peer_slept);  // else no notify was needed and the case proves nothing
    REQUIRE(o.dropped >= 1);
    CHECK(o.ran);
    CHECK(o.runner != o.holder);
    CHECK(o.waited_ns <
          std::chrono::duration_cast<std::chrono::nanoseconds>(latency_bound).count());
}

// Steals are held off between tasks that talk to each other (lib/scheduler/worker.hpp,
// hold_steals()): a task woken by a task on another worker than its own last one makes that
// last worker stop stealing for 250 us, because a steal split the two and each of their
// operations now moves cache lines between the cores. These two cases hold both sides of
// that promise: tasks sharing a lock settle instead of being stolen back and forth, and a
// worker whose steals are held still picks up work queued behind a busy peer when the hold
// ends.

TEST_CASE("tasks sharing a mutex settle on one worker instead of being stolen back and forth",
          "[runtime][fairness]") {
    // 100 tasks lock one mutex in a loop. Before the hold, on two workers the idle one stole
    // half the holder's queue, its tasks lost to the holder and parked, the holder's
    // releases woke them onto the holder's worker, and the idle one stole them again: 0.2
    // steals and 0.8 task switches per lock (300-450 ns per lock against 28 on one worker).
    // Settled, a lock costs a switch only when a task's budget runs out.
    auto rt = weft::builder::multi_thread().worker_threads(2).build();
    constexpr std::uint64_t tasks = 100;
    const std::uint64_t iters = weft::test::scaled(2000);
    const auto before = rt.metrics();
    const std::uint64_t count = rt.block_on([iters] {
        struct shared {
            weft::mutex m;
            std::uint64_t count = 0;
        };
        auto g = std::make_shared<shared>();
        std::vector<weft::join_handle<void>> hs;
        for (std::uint64_t t = 0; t < tasks; ++t) {
            hs.push_back(weft::spawn([g, iters] {
                for (std::uint64_t i = 0; i < iters; ++i) {
                    std::lock_guard lock(g->m);
                    ++g->count;
                }
            }));
        }
        for (auto& h : hs) h.join();
        return g->count;
    });
    const auto after = rt.metrics();
    REQUIRE(count == tasks * iters);
    std::uint64_t steals = 0;
    std::uint64_t polls = 0;
    for (std::size_t w = 0; w < after.per_worker.size(); ++w) {
        steals += after.per_worker[w].steals - before.per_worker[w].steals;
        polls += after.per_worker[w].polls - before.per_worker[w].polls;
    }
    INFO(count << " locks: " << steals << " tasks stolen, " << polls << " tasks run");
    CHECK(steals <= count / 20);
    // Shuffle mode adds yields and spurious wake-ups on purpose (a TSan shuffle run counted
    // 0.42 task runs per lock, with 185 steals in 20,000 locks), so the run count is bounded
    // only outside it; the steals above are bounded in every mode.
    if (!shuffled()) CHECK(polls <= count / 4);
}

TEST_CASE("a worker whose steals are held still takes work queued behind a busy peer",
          "[runtime][fairness]") {
    // Each round, a task T: lets the peer worker steal a task Y (T holds its own worker, so
    // Y can only run there) and, once Y waits, wakes it: Y last ran on the peer, so the
    // peer's steals are now held. Then T queues x in its own ring and holds its worker until
    // x has run (1 s at most). The peer may not steal x until the hold ends, so it must not
    // sleep past that end: parked as usual, nothing would wake it (T queues nothing more)
    // and x would wait for T's whole second. Stranded means what it means above: x not run
    // while the peer's thread sleeps, 25 samples 2 ms apart.
    const std::string name = "weft-steal-hold";
    auto rt = weft::builder::multi_thread().worker_threads(2).thread_name(name).build();
    const int rounds = static_cast<int>(weft::test::scaled(50));
    int stranded = 0;
    int slow = 0;
    int unset = 0;  // rounds in which Y never ran on the peer (no hold to test)
    for (int round = 0; round < rounds; ++round) {
        struct result {
            bool y_on_peer = false;
            bool stranded = false;
            bool ran = false;
        };
        const result r = rt.block_on([&name] {
            return weft::spawn([&name] {
                       const pid_t self = current_tid();
                       result res;
                       auto y_tid = std::make_shared<std::atomic<pid_t>>(0);
                       auto n = std::make_shared<weft::notify>();
                       auto y = weft::spawn([y_tid, n] {
                           y_tid->store(current_tid());
                           n->notified();
                       });
                       weft::spawn([] {});  // takes the LIFO slot: Y moves to the ring
                       const std::int64_t t0 = steady_ns();
                       while (y_tid->load() == 0 && steady_ns() - t0 < 1'000'000'000) {}
                       res.y_on_peer = y_tid->load() != 0 && y_tid->load() != self;
                       // Y waits (or is about to: notify_one keeps a permit for it); waking it
                       // from here holds the peer's steals.
                       n->notify_one();
                       auto x_ran = std::make_shared<std::atomic<bool>>(false);
                       weft::spawn([x_ran] { x_ran->store(true); });
                       weft::spawn([] {});  // x moves to the ring
                       const std::int64_t start = steady_ns();
                       int asleep = 0;
                       std::int64_t next_sample = start + 2'000'000;
                       while (!x_ran->load() && steady_ns() - start < 1'000'000'000) {
                           const std::int64_t now = steady_ns();
                           if (now < next_sample) continue;
                           next_sample = now + 2'000'000;
                           asleep = peer_workers_asleep(name, self) ? asleep + 1 : 0;
                           if (asleep == 25) {
                               res.stranded = true;
                               break;
                           }
                       }
                       res.ran = x_ran->load();
                       return res;
                   })
                .join();
        });
        if (!r.y_on_peer) ++unset;
        if (r.stranded) ++stranded;
        if (!r.ran) ++slow;
    }
    if (slow > stranded) {
        WARN(slow - stranded << " of " << rounds
                             << " rounds: x waited the whole second with the peer awake "
                                "(a loaded machine?)");
    }
    INFO(unset << " of " << rounds << " rounds: Y did not run on the peer");
    CHECK(unset < rounds);
    CHECK(stranded == 0);
}

TEST_CASE("tasks woken by timers that fire together are shared with an idle worker",
          "[runtime][fairness]") {
    // Every task sleeps until one deadline, then works for a while. The first worker to fire
    // the deadline takes every due timer of every worker, and the tasks it wakes used to wait
    // on its private list, so they all ran there while the other worker, woken to share them,
    // found nothing to steal (the timers row: 100,000 sleepers, one worker busy, mean
    // overshoot 1.4-6 ms from round to round). Shared, the other worker takes a good part.
    // The tasks start first and wait at a gate, so that (even under the sanitizers, where a
    // task's first run is slow) all of them sleep before the deadline.
    auto rt = weft::builder::multi_thread().worker_threads(2).build();
    static constexpr int tasks = 400;
    std::vector<pid_t> ran_on(tasks, 0);
    std::atomic<int> slept{0};
    rt.block_on([&ran_on, &slept] {
        auto gate = std::make_shared<weft::notify>();
        auto deadline = std::make_shared<std::chrono::steady_clock::time_point>();
        auto waiting = std::make_shared<std::atomic<int>>(0);
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < tasks; ++i) {
            hs.push_back(weft::spawn([&ran_on, &slept, i, gate, deadline, waiting] {
                auto opened = gate->enroll();
                waiting->fetch_add(1);
                opened.wait();
                if (weft::time::now() < *deadline) slept.fetch_add(1);
                weft::sleep_until(*deadline);
                ran_on[static_cast<std::size_t>(i)] = current_tid();
                const std::int64_t t0 = steady_ns();
                while (steady_ns() - t0 < 50'000) {}
            }));
        }
        const std::int64_t t0 = steady_ns();
        while (waiting->load() < tasks && steady_ns() - t0 < 10'000'000'000) weft::yield_now();
        REQUIRE(waiting->load() == tasks);
        *deadline = weft::time::now() + std::chrono::milliseconds(200);
        gate->notify_waiters();
        for (auto& h : hs) h.join();
    });
    REQUIRE(slept.load() >= tasks / 2);  // else the deadline passed before the tasks slept
    std::vector<pid_t> tids(ran_on);
    std::sort(tids.begin(), tids.end());
    tids.erase(std::unique(tids.begin(), tids.end()), tids.end());
    std::size_t fewest = tids.size() == 1 ? 0 : ran_on.size();
    for (pid_t tid : tids) {
        fewest = std::min<std::size_t>(
            fewest, static_cast<std::size_t>(std::count(ran_on.begin(), ran_on.end(), tid)));
    }
    INFO(slept.load() << " of " << tasks << " slept; " << tids.size()
                      << " workers ran the woken tasks; the one that ran fewest ran " << fewest);
    CHECK(fewest >= static_cast<std::size_t>(tasks / 10));
}
