// The scheduler's lock-free structures under the interleaving explorer (test/support/
// interleave.hpp): the real local_queue, inject_queue and idle templates, instantiated with
// explore::sync, and the task state word's wake protocol (basic_task_state_word over
// explore::atomic), so that every atomic operation is a scheduling point. Each model is explored
// exhaustively up to a preemption bound (sequentially consistent, then with x86 store
// buffers) and with seeded random schedules. Sizes follow WEFT_STRESS_SCALE: the plain build
// uses a larger bound than the sanitizer builds.
#include "scheduler/idle.hpp"
#include "scheduler/inject_queue.hpp"
#include "scheduler/local_queue.hpp"

#include "support/harness.hpp"
#include "support/interleave.hpp"

#include <weft/detail/task_state_word.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>

namespace wd = weft::detail;
namespace ex = weft::explore;

namespace {
struct node {
    node* queue_next_ = nullptr;
    int id = 0;
};
template <std::uint32_t C>
using ring = wd::basic_local_queue<node, ex::sync, C>;
using inject = wd::basic_inject_queue<node, ex::sync>;
using idle = wd::basic_idle<ex::sync>;

bool full_size() {
    const char* env = std::getenv("WEFT_STRESS_SCALE");
    return env == nullptr || std::atoi(env) >= 100;
}

// Bounds: the plain build explores one more preemption than the sanitizer builds.
ex::options bounded(bool tso, int extra = 0) {
    ex::options o;
    o.preemption_bound = (full_size() ? 3 : 2) + extra;
    o.store_buffering = tso;
    o.max_runs = full_size() ? 400'000 : 40'000;
    return o;
}
std::size_t random_runs() { return full_size() ? 5'000 : 300; }

std::string describe(const char* what, const ex::report& r, const ex::options& o) {
    std::ostringstream s;
    s << what << (o.store_buffering ? " [TSO]" : " [SC]") << ": " << r.runs << " schedules"
      << (r.exhausted ? " (every schedule within "
          : r.failed  ? " (bound "
                      : " (run limit reached; bound ")
      << o.preemption_bound << " preemptions)"
      << (r.failed ? ", FAILED: " + r.failure : ", no failure");
    return s.str();
}

// Runs a model bounded (SC and TSO) and random; each must pass.
void explore_all(const char* name, const ex::setup_fn& model, int extra_bound = 0) {
    for (bool tso : {false, true}) {
        ex::options o = bounded(tso, extra_bound);
        ex::report r = ex::explore_bounded(model, o);
        WARN(describe(name, r, o));
        CHECK_FALSE(r.failed);
    }
    ex::options o;
    o.store_buffering = true;
    ex::report r = ex::explore_random(model, 1, random_runs(), o);
    WARN(name << " [TSO, random]: " << r.runs << " seeds from 1"
              << (r.failed ? ", FAILED: " + r.failure : ", no failure"));
    CHECK_FALSE(r.failed);
}

// Every node consumed exactly once.
template <std::size_t N>
struct tally {
    std::array<node, N> nodes{};
    std::array<int, N> seen{};
    tally() {
        for (std::size_t i = 0; i < N; ++i) nodes[i].id = static_cast<int>(i);
    }
    void take(node* t) {
        ex::require(t != nullptr, "a queue returned a null task");
        if (t) ++seen[static_cast<std::size_t>(t->id)];
    }
    void check() {
        for (std::size_t i = 0; i < N; ++i) {
            ex::require(seen[i] == 1, "task " + std::to_string(i) + " consumed " +
                                          std::to_string(seen[i]) + " times");
        }
    }
};

// A thief that steals from s->src into its own s->dst once and takes what it got.
template <class State>
void add_thief(ex::builder& b, const std::shared_ptr<State>& s) {
    b.thread([s] {
        std::uint32_t stolen = 0;
        if (node* n = s->src.steal_into(s->dst, stolen)) {
            s->t.take(n);
            while (node* m = s->dst.pop()) s->t.take(m);
        }
    });
}

// After the threads: takes what is left in s->src, s->dst and s->overflow, then checks that
// every task was taken exactly once.
template <class State>
void take_rest_and_check(State& s) {
    while (node* n = s.src.pop()) s.t.take(n);
    while (node* n = s.dst.pop()) s.t.take(n);
    while (node* n = s.overflow.pop()) s.t.take(n);
    s.t.check();
}
}  // namespace

TEST_CASE("explore: the explorer finds a lost update, reports its schedule and replays it",
          "[scheduler][explore]") {
    // Two threads increment with a load and a store: a schedule that interleaves them loses
    // one increment. The explorer must find it in both modes, and the schedule must replay.
    auto model = [](ex::builder& b) {
        auto n = std::make_shared<ex::atomic<int>>(0);
        for (int t = 0; t < 2; ++t) {
            b.thread([n] { n->store(n->load() + 1); });
        }
        b.finally(
            [n] { ex::require(n->load() == 2, "lost update: " + std::to_string(n->load())); });
    };
    ex::report r = ex::explore_bounded(model, ex::options{});
    REQUIRE(r.failed);
    CHECK(r.failure.find("lost update: 1") != std::string::npos);
    CHECK(r.failure.find("schedule: ") != std::string::npos);
    ex::report again = ex::replay(model, r.schedule, ex::options{});
    CHECK(again.failed);
    ex::report rnd = ex::explore_random(model, 1, 1000, ex::options{});
    REQUIRE(rnd.failed);
    CHECK(rnd.failure.find("seed ") != std::string::npos);
    CHECK(ex::replay(model, rnd.schedule, ex::options{}).failed);

    // The same increments as RMWs are never lost: the explorer exhausts the space quietly.
    auto fixed = [](ex::builder& b) {
        auto n = std::make_shared<ex::atomic<int>>(0);
        for (int t = 0; t < 2; ++t) b.thread([n] { n->fetch_add(1); });
        b.finally([n] { ex::require(n->load() == 2, "lost update"); });
    };
    ex::report ok = ex::explore_bounded(fixed, ex::options{});
    CHECK_FALSE(ok.failed);
    CHECK(ok.exhausted);

    // Store buffering (Dekker): with TSO, both threads can read 0 unless a fence separates
    // each store from the load.
    auto dekker = [](bool fenced) {
        return [fenced](ex::builder& b) {
            struct st {
                ex::atomic<int> x{0}, y{0};
                int rx = -1, ry = -1;
            };
            auto s = std::make_shared<st>();
            b.thread([s, fenced] {
                s->x.store(1, std::memory_order_release);
                if (fenced) ex::sync::fence_seq_cst();
                s->ry = s->y.load();
            });
            b.thread([s, fenced] {
                s->y.store(1, std::memory_order_release);
                if (fenced) ex::sync::fence_seq_cst();
                s->rx = s->x.load();
            });
            b.finally(
                [s] { ex::require(s->rx == 1 || s->ry == 1, "both loads missed both stores"); });
        };
    };
    ex::options tso;
    tso.store_buffering = true;
    CHECK(ex::explore_bounded(dekker(false), tso).failed);
    CHECK_FALSE(ex::explore_bounded(dekker(true), tso).failed);
    CHECK_FALSE(ex::explore_bounded(dekker(false), ex::options{}).failed);  // SC: never
}

TEST_CASE("explore: local_queue owner push/pop against steal_into, every task exactly once",
          "[scheduler][explore]") {
    explore_all("local_queue push/pop vs steal", [](ex::builder& b) {
        struct st {
            ring<4> src, dst;
            inject overflow;
            tally<3> t;
        };
        auto s = std::make_shared<st>();
        b.thread([s] {  // the owner
            s->src.push_back(&s->t.nodes[0], s->overflow);
            s->src.push_back(&s->t.nodes[1], s->overflow);
            if (node* n = s->src.pop()) s->t.take(n);
            s->src.push_back(&s->t.nodes[2], s->overflow);
            if (node* n = s->src.pop()) s->t.take(n);
        });
        add_thief(b, s);
        b.finally([s] { take_rest_and_check(*s); });
    });
}

TEST_CASE("explore: local_queue overflow against a concurrent steal", "[scheduler][explore]") {
    auto model = [](int thieves) {
        return [thieves](ex::builder& b) {
            struct st {
                ring<4> src, dst1, dst2;
                inject overflow;
                tally<6> t;
            };
            auto s = std::make_shared<st>();
            // Full before the run starts (the explorer is not active yet: plain accesses).
            for (int i = 0; i < 4; ++i) s->src.push_back(&s->t.nodes[i], s->overflow);
            b.thread([s] {  // the owner: the fifth push overflows unless a thief got in first
                s->src.push_back(&s->t.nodes[4], s->overflow);
                s->src.push_back(&s->t.nodes[5], s->overflow);
                if (node* n = s->src.pop()) s->t.take(n);
            });
            b.thread([s] {
                std::uint32_t stolen = 0;
                if (node* n = s->src.steal_into(s->dst1, stolen)) s->t.take(n);
            });
            if (thieves == 2) {
                b.thread([s] {
                    std::uint32_t stolen = 0;
                    if (node* n = s->src.steal_into(s->dst2, stolen)) s->t.take(n);
                });
            }
            b.finally([s] {
                while (node* n = s->src.pop()) s->t.take(n);
                while (node* n = s->dst1.pop()) s->t.take(n);
                while (node* n = s->dst2.pop()) s->t.take(n);
                while (node* n = s->overflow.pop()) s->t.take(n);
                s->t.check();
            });
        };
    };
    explore_all("overflow vs 1 thief", model(1));
    explore_all("overflow vs 2 thieves", model(2), -1);
}

namespace {
// share_timer_ready (and next_task's batch from the global queue) bulk-pushes with
// push_back_unchecked into a ring that looks empty. is_empty() compares the tail with the real
// head, but the slots from a thief's steal index up to the real head stay unfree until the
// thief's closing CAS, so an empty-looking ring can have no free slot at all: bounding the
// push by half a ring let a TSan run (ring of 4) overrun a steal of 2 in flight.
// The ring is full before the run; the thief takes half while the owner pops the rest, finds
// the ring empty and moves `bulk_wanted` tasks in. `landed_rule`: also bounded by remaining(),
// as worker.cpp is. Otherwise the old bound is reported as a broken requirement rather than
// pushed: push_back_unchecked on a full ring aborts the process.
constexpr std::uint32_t bulk_prefill = 4;
constexpr std::uint32_t bulk_wanted = 2;

ex::setup_fn bulk_push_model(bool landed_rule) {
    return [landed_rule](ex::builder& b) {
        struct st {
            ring<4> src, dst;
            inject overflow;  // unused: the prefill fits
            tally<bulk_prefill + bulk_wanted> t;
            bool overran = false;
        };
        auto s = std::make_shared<st>();
        for (std::uint32_t i = 0; i < bulk_prefill; ++i) {
            s->src.push_back(&s->t.nodes[i], s->overflow);
        }
        b.thread([s, landed_rule] {  // the owner
            while (node* n = s->src.pop()) s->t.take(n);
            std::uint32_t k = 0;
            if (s->src.is_empty()) {
                std::uint32_t room = s->src.remaining();
                k = std::min(bulk_wanted, ring<4>::capacity / 2);
                if (landed_rule) k = std::min(k, room);
                ex::require(k <= room, "a bulk push of " + std::to_string(k) +
                                           " into an empty-looking ring with room for " +
                                           std::to_string(room) + " (a steal is in flight)");
                k = std::min(k, room);
                for (std::uint32_t i = 0; i < k; ++i) {
                    // The room read once must last the whole push (a thief only frees slots);
                    // a fresh look turns a broken assumption into a report, not an abort.
                    if (s->src.remaining() == 0) {
                        s->overran = true;
                        k = i;
                        break;
                    }
                    s->src.push_back_unchecked(&s->t.nodes[bulk_prefill + i]);
                }
            }
            // Whatever was not moved stays on the owner's timer list and runs there.
            for (std::uint32_t i = k; i < bulk_wanted; ++i) {
                s->t.take(&s->t.nodes[bulk_prefill + i]);
            }
            while (node* n = s->src.pop()) s->t.take(n);
        });
        add_thief(b, s);
        b.finally([s] {
            ex::require(!s->overran, "the bulk push went on into a full ring");
            take_rest_and_check(*s);
        });
    };
}
}  // namespace

TEST_CASE("explore: a bulk push into an empty-looking local_queue leaves a steal in flight "
          "alone",
          "[scheduler][explore]") {
    // One preemption below the default bound: the race needs one or two, and the default
    // bound (about 70,000 schedules) would take several seconds.
    explore_all("bulk push vs steal in flight", bulk_push_model(true), -1);
    // The model must see the bug it was written for: bounded by half a ring only, the owner
    // pops what the thief left while the thief's claim is still open, and the ring that looks
    // empty has less room than the push.
    ex::options o = bounded(false, -1);
    ex::report r = ex::explore_bounded(bulk_push_model(false), o);
    WARN(describe("bulk push, old bound", r, o));
    CHECK(r.failed);
    CHECK(r.failure.find("(a steal is in flight)") != std::string::npos);
    CHECK(ex::replay(bulk_push_model(false), r.schedule, o).failed);
}

TEST_CASE("explore: inject_queue pushes and batch pushes against pop_batch",
          "[scheduler][explore]") {
    explore_all(
        "inject push vs pop_batch",
        [](ex::builder& b) {
            struct st {
                inject q;
                tally<4> t;
            };
            auto s = std::make_shared<st>();
            b.thread([s] {
                s->q.push(&s->t.nodes[0]);
                s->t.nodes[1].queue_next_ = &s->t.nodes[2];
                s->t.nodes[2].queue_next_ = nullptr;
                s->q.push_batch(&s->t.nodes[1], &s->t.nodes[2], 2);
            });
            b.thread([s] { s->q.push(&s->t.nodes[3]); });
            b.thread([s] {
                for (int round = 0; round < 2; ++round) {
                    node* first = s->q.pop_batch(3, [&](node* n) { s->t.take(n); });
                    if (first) s->t.take(first);
                    std::size_t len = s->q.len();
                    ex::require(len <= 4, "len wrapped: " + std::to_string(len));
                }
            });
            b.finally([s] {
                while (node* n = s->q.pop()) s->t.take(n);
                ex::require(s->q.is_empty() && s->q.len() == 0,
                            "an emptied queue reports a length");
                s->t.check();
            });
        },
        -1);
}

namespace {
// The park models' two workers: worker 0's ring and worker 1's, the global queue, the tasks,
// and what worker 1 did (ran a task it found, or woke up for one) and whom notifies picked.
template <std::size_t N>
struct park_state {
    idle state{2};
    ring<4> ring0, ring1;
    inject global;
    std::array<node, N> tasks{};
    bool notified[2] = {false, false};
    bool ran = false;
    bool saw_work = false;
};

// Worker 1 of the park models: one search that comes back empty-handed (a steal from worker
// 0's ring, and with `search_global` a pop from the global queue), then park(): the last
// searcher's check for work that arrived meanwhile, and the re-check of its own queues and the
// global queue before sleeping. What it finds it runs (`ran`) or wakes up for (`saw_work`).
template <class State, class Notify>
void add_parking_searcher(ex::builder& b, const std::shared_ptr<State>& s, Notify notify,
                          bool search_global) {
    b.thread([s, notify, search_global] {
        std::uint32_t stolen = 0;
        if (s->ring0.steal_into(s->ring1, stolen) || (search_global && s->global.pop())) {
            s->ran = true;
            return;
        }
        if (s->state.transition_to_parked(1, true)) {
            // The last searcher gives up: work that arrived meanwhile is not stranded.
            if (!s->global.is_empty()) notify();
            if (!s->ring0.is_empty()) notify();
        }
        if (!s->ring1.is_empty() || !s->global.is_empty()) {
            s->state.unpark_by_id(1);
            s->saw_work = true;
        }
    });
}

// A producer's notify_parked in the park models: whom worker_to_notify picks is recorded (the
// check below reads it), not woken.
template <class State>
auto notifier(const std::shared_ptr<State>& s) {
    return [s] {
        if (auto w = s->state.worker_to_notify()) s->notified[*w] = true;
    };
}

// After the run: no work left in worker 0's ring while worker 1 sleeps and nobody woke it.
template <class State>
void check_not_stranded(ex::builder& b, const std::shared_ptr<State>& s, const char* what) {
    b.finally([s, what] {
        const bool stranded = !s->ran && !s->ring0.is_empty() && s->state.is_parked(1) &&
                              !s->notified[1] && !s->saw_work;
        ex::require(!stranded, std::string("missed wake-up: ") + what +
                                   " waits in worker 0's ring while worker 1 sleeps un-notified");
    });
}

// The worker park/notify protocol (worker.cpp: push_back + notify_parked on the producer
// side; park()'s transition_to_parked, last-searcher check and queue re-check on the other)
// as a two-worker state machine over the real idle and local_queue. Worker 0 pushes a task
// into its ring and then runs a long task (it does not look at its queues again); worker 1
// is the only searcher, finds nothing to steal, and parks. The task is stranded if, at the
// end, it is still in worker 0's ring while worker 1 sleeps and nobody woke it.
ex::setup_fn park_model() {
    return [](ex::builder& b) {
        auto s = std::make_shared<park_state<1>>();
        s->state.transition_to_searching();  // worker 1 searches (set up before the run)
        auto notify = notifier(s);
        b.thread([s, notify] {  // worker 0: schedule_local -> push_back, then notify_parked
            s->ring0.push_back(&s->tasks[0], s->global);
            notify();
        });
        add_parking_searcher(b, s, notify, false);
        check_not_stranded(b, s, "the task");
    };
}
}  // namespace

TEST_CASE("explore: the park/notify protocol never strands a task while a worker sleeps",
          "[scheduler][explore][wake]") {
    explore_all("park/notify", park_model(), full_size() ? 1 : 0);
}

namespace {
// A batch from the global queue (worker.cpp next_task: pop_batch into the ring, the first task
// run at once, no notify) against the last searcher parking. The batch must never be out of
// both queues where the searcher can look: pop_batch hands each task to the ring right after
// unlinking it, so the global queue reads empty only once all but the last are in the ring,
// and x86's stores become visible in order. A batch popped whole before any push would be in
// neither queue for a while, and a searcher looking at both then would park while the batch
// waited behind the task its owner runs.
ex::setup_fn batch_model() {
    return [](ex::builder& b) {
        auto s = std::make_shared<park_state<3>>();
        for (node& n : s->tasks) s->global.push(&n);  // queued from outside before the run
        s->state.transition_to_searching();           // worker 1 searches
        auto notify = notifier(s);
        b.thread([s] {  // worker 0: next_task's batch, then a long task
            node* first = s->global.pop_batch(3, [&](node* t) { s->ring0.push_back_unchecked(t); });
            ex::require(first != nullptr, "the batch came back empty");
        });
        add_parking_searcher(b, s, notify, true);
        check_not_stranded(b, s, "a batch from the global queue");
    };
}
}  // namespace

TEST_CASE("explore: a batch taken from the global queue is never out of sight of a parking "
          "worker",
          "[scheduler][explore][wake]") {
    explore_all("global batch/park", batch_model());
}

TEST_CASE("explore: without the seq_cst fences, x86 store buffering strands the task "
          "(issue #12 item 5)",
          "[scheduler][explore][wake]") {
    // The fences are what the protocol relies on: treated as no-ops, the TSO model finds the
    // schedule in which the producer reads "worker 1 is searching" while its tail store still
    // waits in its store buffer, and worker 1, not seeing the task, parks.
    ex::options o = bounded(true);
    o.ignore_fences = true;
    ex::report r = ex::explore_bounded(park_model(), o);
    WARN(describe("park/notify without fences", r, o));
    REQUIRE(r.failed);
    CHECK(r.failure.find("missed wake-up") != std::string::npos);
    CHECK(ex::replay(park_model(), r.schedule, o).failed);
    // Sequentially consistent execution cannot show it: the bug needs the store buffer.
    ex::options sc = bounded(false);
    sc.ignore_fences = true;
    CHECK_FALSE(ex::explore_bounded(park_model(), sc).failed);
}

namespace {
using state_word = wd::basic_task_state_word<ex::atomic>;
using wake_action = state_word::wake_action;

// The wake of a task whose earlier wake already queued it. Set up before the run: the task
// ran, parked, and an earlier waker (a use_fiber operation's cancel emitter) put it in a run
// queue. Thread 0 is the next waker (the operation's completion): it publishes its news with
// a plain release store, as fiber_op::complete does, then wakes. Thread 1 is the worker that
// took the queue entry: it claims the task, which reads the news and parks again if there is
// none. The wake is lost if, at the end, the task parked without the news while the second
// wake neither queued it again nor marked it notified.
// `load_only_absorb`: the waker decides "already queued, nothing to do" from a plain load, as
// transition_to_notified did before it wrote the word in that case too.
ex::setup_fn absorbed_wake_model(bool load_only_absorb) {
    return [load_only_absorb](ex::builder& b) {
        struct st {
            state_word word;
            ex::atomic<int> news{0};
            wake_action second = wake_action::none;
            bool saw_news = false;
            bool requeued = false;
        };
        auto s = std::make_shared<st>();
        // Spawned, first run, parked, then woken once: scheduled again, one queue entry.
        (void)s->word.transition_to_running_first();
        (void)s->word.transition_to_idle();
        ex::require(s->word.transition_to_notified() == wake_action::schedule,
                    "setup: the first wake queues the parked task");
        b.thread([s, load_only_absorb] {
            s->news.store(1, std::memory_order_release);
            if (load_only_absorb && s->word.load().is_scheduled()) {
                s->second = wake_action::none;
            } else {
                s->second = s->word.transition_to_notified();
            }
        });
        b.thread([s] {
            s->word.transition_to_running_again(s->word.load());
            s->saw_news = s->news.load(std::memory_order_acquire) == 1;
            if (!s->saw_news) s->requeued = s->word.transition_to_idle();
        });
        b.finally([s] {
            bool lost = !s->saw_news && !s->requeued && s->second != wake_action::schedule;
            ex::require(!lost, "lost wake: the task parked without the news, and the wake that "
                               "brought it was absorbed");
        });
    };
}
}  // namespace

TEST_CASE("explore: a wake absorbed by an already queued task is seen by its next run",
          "[scheduler][explore][wake]") {
    explore_all("absorbed wake", absorbed_wake_model(false), full_size() ? 1 : 0);
}

TEST_CASE("explore: a wake that only loads the word before it absorbs loses the news under "
          "x86 store buffering",
          "[scheduler][explore][wake]") {
    // The model is only as good as its ability to see the bug it was written for: with the
    // absorbing path a plain load, the TSO model finds the schedule in which the news is still
    // in the waker's store buffer when the claimer reads it.
    ex::options o = bounded(true);
    ex::report r = ex::explore_bounded(absorbed_wake_model(true), o);
    WARN(describe("absorbed wake, load-only", r, o));
    REQUIRE(r.failed);
    CHECK(r.failure.find("lost wake") != std::string::npos);
    CHECK(ex::replay(absorbed_wake_model(true), r.schedule, o).failed);
    // Sequentially consistent execution cannot show it: the bug needs the store buffer.
    CHECK_FALSE(ex::explore_bounded(absorbed_wake_model(true), bounded(false)).failed);
}
