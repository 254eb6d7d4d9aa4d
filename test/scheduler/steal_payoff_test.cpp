// steal_payoff (lib/scheduler/steal_payoff.hpp): the verdict that lets a worker's steals be
// held off (worker::hold_steals()), fed the figures measured on the development VM for the
// workloads it must tell apart.
#include "scheduler/steal_payoff.hpp"

#include <catch2/catch.hpp>

#include <cstdint>

namespace {
using weft::detail::steal_payoff;

// Feeds `times` stolen runs, each after a steal of `steal_ns`, of `operations` cooperative
// operations in all (default: one per task run, a task that waits on one operation each time).
bool feed(steal_payoff& p, int times, std::int64_t steal_ns, std::int64_t run_ns,
          std::uint64_t task_runs, std::uint64_t operations = 0) {
    bool pays = false;
    for (int i = 0; i < times; ++i) {
        p.note_steal(steal_ns);
        pays = p.note_stolen_run(run_ns, task_runs, operations != 0 ? operations : task_runs);
    }
    return pays;
}
}  // namespace

TEST_CASE("no verdict before a stolen run was weighed: steals do not pay yet", "[scheduler]") {
    steal_payoff p;
    CHECK_FALSE(p.pays());
    p.note_steal(400);
    CHECK_FALSE(p.pays());
    // A stolen run that ran nothing (the task was cancelled meanwhile) is no evidence.
    CHECK_FALSE(p.note_stolen_run(1'000'000, 0, 0));
}

TEST_CASE("tasks contending for a lock after a steal do not pay", "[scheduler]") {
    // 100 tasks on one mutex: a steal of ~450 ns brought ~100 tasks that ran 0.5-1 us each.
    steal_payoff p;
    CHECK_FALSE(feed(p, 20, 450, 75'000, 100));
    CHECK_FALSE(feed(p, 20, 450, 51'200, 100));
}

TEST_CASE("a producer that only fills a channel for the other core does not pay", "[scheduler]") {
    // mpsc with one consumer: a steal of ~380 ns brought a producer or two, and the queues ran
    // dry again 1-8 us later, however long each task run was; now and then a longer one.
    steal_payoff p;
    CHECK_FALSE(feed(p, 20, 380, 4'000, 1));
    CHECK_FALSE(feed(p, 20, 380, 8'000, 2));
    for (int i = 0; i < 20; ++i) {
        CHECK_FALSE(feed(p, 1, 380, 40'000, 2));
        CHECK_FALSE(feed(p, 3, 380, 3'000, 1));
    }
}

TEST_CASE("a producer that fills a large channel for a consumer running meanwhile does not pay",
          "[scheduler]") {
    // select_ops (a 1,024-slot channel) on a VM where a steal costs ~190 ns: the stolen
    // producer ran 54-93 us in 2-3 task runs, long enough by time alone, but sent a value
    // every 0.6-1.8 steals' time, each one crossing to the consumer on the other core.
    steal_payoff p;
    CHECK_FALSE(feed(p, 20, 190, 70'000, 3, 323));
    CHECK_FALSE(feed(p, 20, 190, 93'000, 3, 460));
    // mpsc's producers likewise: 42 us, 2 task runs, 118 operations.
    steal_payoff q;
    CHECK_FALSE(feed(q, 20, 200, 42'000, 2, 118));
    // The same runs with one operation per task run pay: the operations tell them apart.
    steal_payoff by_time;
    CHECK(feed(by_time, 20, 190, 70'000, 3));
}

TEST_CASE("consumers doing jobs of their own after a steal pay", "[scheduler]") {
    // A pool of consumers fed 1 us jobs over channels: ~350 ns steals, 2-4 us per task run,
    // ~25 us per stolen run; 5 us jobs: 8-16 us per task run.
    steal_payoff p;
    CHECK(feed(p, 20, 350, 25'000, 10));
    steal_payoff q;
    CHECK(feed(q, 20, 350, 56'000, 7));
    // fan_out's consumers (3 us jobs) on the ~190 ns VM: 32 us, 8 task runs, 22 operations.
    steal_payoff r;
    CHECK(feed(r, 20, 186, 32'000, 8, 22));
}

TEST_CASE("the verdict scales with what a steal costs", "[scheduler]") {
    // The same 25 us stolen run of 10 task runs: worth it after 350 ns steals, not after
    // steals ten times as slow (a sanitizer build slows both sides alike).
    steal_payoff fast;
    CHECK(feed(fast, 20, 350, 25'000, 10));
    steal_payoff slow;
    CHECK_FALSE(feed(slow, 20, 3'500, 25'000, 10));
}

TEST_CASE("the verdict follows a change of workload within a few steals, not one odd steal",
          "[scheduler]") {
    steal_payoff p;
    REQUIRE_FALSE(feed(p, 20, 450, 75'000, 100));  // lock contention
    // One long stolen run does not flip it, however long...
    CHECK_FALSE(feed(p, 1, 450, 50'000'000, 10));
    CHECK_FALSE(feed(p, 12, 450, 75'000, 100));
    // ...three in a row do.
    CHECK_FALSE(feed(p, 2, 450, 200'000, 10));
    CHECK(feed(p, 1, 450, 200'000, 10));
    // And back.
    CHECK_FALSE(feed(p, 12, 450, 75'000, 100));
}
