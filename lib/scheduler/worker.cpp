// The worker loop and the fiber switch. A switch goes scheduler -> task (resume()), task ->
// task (a task that suspends hands its worker straight to the next ready task that already has
// a fiber: one switch instead of two, and no trip through the loop), or task -> scheduler (no
// such task, or the loop has work of its own: maintenance, a task to start, stopping). Every
// switch goes through resume() or suspend() (and fiber_main's entry), the only callers of
// switch_context (lib/fiber/context.hpp); the side that arrives finishes the switch (arrive():
// records where the previous context stopped and requeues or finishes the task that left), so
// a task is published only once its stack is no longer in use. The sanitizer annotations live
// here too:
//   ASan  __sanitizer_start_switch_fiber right before the jump, __sanitizer_finish_switch_fiber
//         right after arriving (a finished fiber passes a null fake-stack slot);
//   TSan  __tsan_switch_to_fiber in the very frame that jumps.
// The C++ exception globals are swapped by the side that jumps: the leaving context's state is
// saved and the arriving one's installed (the worker's own state waits in sched_eh_).
#include "worker.hpp"

#include "../fiber/context.hpp"
#include "../fiber/exception_state.hpp"
#include "../fiber/overflow_report.hpp"
#include "../task/task_allocator.hpp"
#include "asio_thread_cache.hpp"
#include "scheduler.hpp"
#include "shuffle.hpp"
#include "thread_context.hpp"
#include "uring_ring.hpp"

#include <weft/detail/assert.hpp>
#include <weft/detail/fault_injection.hpp>
#include <weft/detail/spin_lock.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define WEFT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define WEFT_TSAN 1
#endif

namespace weft::detail {
namespace {
constexpr std::uint32_t global_queue_interval = 61;
constexpr unsigned max_lifo_runs = 3;
#if WEFT_TSAN
// How many tasks one TSan fiber carries, and how many spare fibers a worker keeps (bind_stack).
constexpr std::uint8_t max_tsan_fiber_uses = 16;
constexpr std::size_t max_spare_tsan_fibers = 256;
#endif
// How long a worker holds off stealing after a task it ran was woken by a task on another
// worker (see hold_steals()). Measured on the 2-vCPU development VM (docs/performance.md,
// "Steals that cost more than they bring"): 100 us left the mutex row at 230-260 ns per lock,
// 200-300 us brought it to 42-84 and mpsc to 64-81.
// On latency_clock_ns()'s clock (the real steady clock).
constexpr std::int64_t steal_hold_ns = 250'000;
// How long a worker whose steals pay keeps looking before it parks (see spin_for_work()), and
// how many passes of that look go by between polls of its shard's I/O and timers. Measured
// on the 2-vCPU development VM (docs/performance.md, "Spinning before a park"): 15, 30 and
// 60 us took fan_out 6-10% below parking at once; a thread woken through a condition
// variable there runs 10-11 us after the notify.
// On latency_clock_ns()'s clock.
constexpr std::int64_t spin_before_park_ns = 30'000;
constexpr unsigned spin_io_poll_passes = 8;
// How long a park waits before it offers the kernel a refused ring submission again: long
// enough not to spin against memory pressure, short enough that the calls are late by no
// more than a timer's usual slack.
constexpr std::chrono::milliseconds resubmit_after{1};

void fiber_entry(context_transfer tr) noexcept { worker::fiber_main(tr.from, tr.data); }
}  // namespace

worker::worker(scheduler& s, std::size_t index)
    : histograms(s.config().latency_histograms),
      sched_(s),
      index_(index),
      io_(1),
      rng_(0x9e3779b97f4a7c15ULL * (index + 1)),
      default_stack_(mapped_stack_size(s.config().stack_size)),
      stacks_(default_stack_) {
    guard_.emplace(io_.get_executor());
    if (s.config().seed) {
        seeded_ = true;
        seed_state_ = *s.config().seed;
    }
#if WEFT_TSAN
    spare_tsan_fibers_.reserve(max_spare_tsan_fibers);
#endif
    if (shuffle::enabled()) {
        shuffle_ = true;
        shuffle_state_ = shuffle::seed() ^ (0x9e3779b97f4a7c15ULL * (index + 1));
    }
}

worker::~worker() {
    guard_.reset();
#if WEFT_TSAN
    for (const spare_tsan_fiber& f : spare_tsan_fibers_) __tsan_destroy_fiber(f.fiber);
#endif
    // Handlers still queued (timers of tasks leaked by a timed-out shutdown) are destroyed
    // with the io_context; they only hold wakers.
}

void worker::open_ring() {
    ring_tried_ = true;
    const auto& cfg = sched_.config();
    ring_ = open_worker_ring(io_, cfg.file_io, cfg.socket_io);
    ring_for_files_ = ring_ && cfg.file_io != fs::io_backend::thread_pool;
    ring_for_sockets_ =
        ring_ && (cfg.socket_io == net::io_backend::io_uring ||
                  (cfg.socket_io == net::io_backend::automatic && ring_->cooperative()));
}

void worker::run() { loop(nullptr); }

void worker::run_until(const std::function<bool()>& done) { loop(&done); }

void worker::loop(const std::function<bool()>* done) {
    thread_context_scope scope(&sched_, this);
    asio_thread_cache asio_cache;  // tasks' Asio operations recycle memory, as handlers do
    // A loop with a predicate (current_thread's block_on) checks it between tasks; tasks
    // switching among themselves would postpone that, so they come back here instead.
    direct_ok_ = done == nullptr;
    ensure_overflow_handler();
    stall.attach();
    struct stall_detach {
        stall_capture& s;
        ~stall_detach() { s.detach(); }
    } detach_at_exit{stall};
    eh_globals_ = thread_eh_globals();
#if WEFT_TSAN
    tsan_fiber_ = __tsan_get_current_fiber();
#endif
    busy_since_ = std::chrono::steady_clock::now();
    for (;;) {
        if (done && (*done)()) break;
        if (sched_.is_stopping()) break;
        task_header* t = handoff_ ? std::exchange(handoff_, nullptr) : next_task();
        if (!t) t = search();
        if (t) {
            run_task(t);
            if (maintenance_due_) {
                maintenance_due_ = false;
                maintenance();
            }
            continue;
        }
        // Out of tasks: the transfers they queued go to the kernel now, in one call, and what
        // completed since wakes its tasks (uring_ring.hpp).
        if (ring_ && ring_->flush() > 0) continue;
        if (io_.poll() > 0) continue;
        if (sched_.fire_due_timers() > 0) continue;
        if (done && (*done)()) break;
        if (sched_.is_stopping()) break;
        if (spin_for_work()) continue;
        park();
    }
    if (searching_) {
        searching_ = false;
        sched_.idle_state.transition_from_searching();
    }
}

void worker::maintenance() {
    // A worker that never runs out of tasks still hands its queued transfers over here.
    if (ring_) ring_->flush();
    io_.poll();
    // A busy worker fires its own heap, and other workers' heaps only when their owner let
    // them lag (it is parked, or stuck in one long task). Firing every heap from whichever
    // worker got there first put all woken sleepers on one worker's timer-ready list while
    // the other kept starting new ones: with 100k sleepers the one worker could not keep up
    // and overshoot grew to milliseconds.
    constexpr std::int64_t foreign_grace_ns = 500'000;
    sched_.fire_due_timers(foreign_grace_ns);
}

bool worker::shuffle_order() {
    // Shuffle mode (lib/scheduler/shuffle.hpp): perturb which ready task runs next, within
    // what the fairness rules allow, so the suite meets orders it would rarely see.
    std::uint64_t r = shuffle::next(shuffle_state_);
    if (lifo_ && (r & 3) == 0) push_stealable(std::exchange(lifo_, nullptr));
    if (((r >> 2) & 3) == 0 && pinned_ready_.size() > 1) {
        pinned_ready_.push_back(pinned_ready_.front());
        pinned_ready_.pop_front();
    }
    // The timer-ready list keeps its order: sleepers due at the same instant run in the order
    // their timers fired (deadline, then arming order), which the timers promise.
    return ((r >> 6) & 7) == 0;  // the global queue first now and then
}

task_header* worker::next_seeded() {
    while (task_header* t = sched_.inject.pop()) seeded_ready_.push_back(t);
    if (pinned_pending_.load(std::memory_order_acquire)) drain_pinned_inbox();
    for (task_header* t : pinned_ready_) seeded_ready_.push_back(t);
    pinned_ready_.clear();
    if (seeded_ready_.empty()) return nullptr;
    // splitmix64: a fixed, portable generator, so a seed means the same order everywhere.
    std::uint64_t z = (seed_state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::size_t i = z % seeded_ready_.size();
    task_header* t = seeded_ready_[i];
    seeded_ready_[i] = seeded_ready_.back();
    seeded_ready_.pop_back();
    return t;
}

inline bool worker::has_other_runnable() const {
    return !local_.is_empty() || !timer_ready_.empty() || !pinned_ready_.empty() ||
           pinned_pending_.load(std::memory_order_acquire) || !sched_.inject.is_empty();
}

void worker::share_timer_ready() {
    // One firing takes every due timer of every worker, and the tasks it wakes wait on the
    // firing worker's private list: 400 sleepers due together all ran on the worker that
    // fired them while the other, woken for them, found nothing to steal (fairness_test).
    // So whenever this worker's ring is empty, the later half of the list (up to half a ring)
    // moves into the ring, where an idle worker steals it; the earlier deadlines stay first
    // here. Into an empty ring, so the moved tasks wait behind nothing but each other, and
    // never overflow into the global queue's tail.
    if (sched_.num_workers() == 1) return;
    // An empty ring may still have slots a thief is copying out (its steal index lags the
    // real head until the copy ends): those are not free, so remaining() bounds the move too.
    // Without it a TSan run (ring of 4) overran the ring while a steal of 2 was in flight.
    std::size_t n = std::min<std::size_t>(
        {timer_ready_.size() / 2, local_queue::capacity / 2, std::size_t{local_.remaining()}});
    if (n == 0) return;
    auto first = timer_ready_.end() - static_cast<std::ptrdiff_t>(n);
    for (auto it = first; it != timer_ready_.end(); ++it) local_.push_back_unchecked(*it);
    timer_ready_.erase(first, timer_ready_.end());
    sched_.notify_parked();
}

[[gnu::always_inline]] inline task_header* worker::next_task() {
    // Fairness (docs/architecture.md, "Fairness"): every source of runnable work is served
    // within a bounded number of this worker's ticks, whatever the LIFO slot holds.
    //   - every 61st tick the global queue comes first, before the LIFO slot, and a
    //     maintenance pass (I/O poll, due timers) follows the task;
    //   - the LIFO slot runs at most max_lifo_runs times in a row while anything else is
    //     runnable here or in the global queue (the pinned inbox included);
    //   - pinned tasks alternate with the ring.
    // A countdown, not a modulo, on this hot path.
    bool interval_tick = --countdown_ == 0;
    if (interval_tick) {
        countdown_ = global_queue_interval;
        maintenance_due_ = true;
    }
    if (seeded_) return next_seeded();
    if (shuffle_) [[unlikely]]
        interval_tick |= shuffle_order();
    if (interval_tick) {
        if (task_header* t = sched_.inject.pop()) return t;
    }
    if (lifo_) {
        // The cap gives every other source its turn. With nothing else runnable, sending the
        // task through the ring would only expose it to a thief: a chain of spawns then bounced
        // between the workers, each steal waking the other one (chained_spawn: 106 -> 150 ns).
        // Before the cap was checked against the pinned inbox and the global queue too, a
        // ping-ponging pair on one worker starved both forever.
        if (lifo_runs_ < max_lifo_runs || !has_other_runnable()) {
            ++lifo_runs_;
            return std::exchange(lifo_, nullptr);
        }
        // The displaced task is stealable from here on, and this worker is about to run
        // something else first.
        push_stealable(std::exchange(lifo_, nullptr));
    }
    lifo_runs_ = 0;
    if (!timer_ready_.empty()) {
        task_header* t = timer_ready_.front();
        timer_ready_.pop_front();
        if (!timer_ready_.empty() && local_.is_empty()) share_timer_ready();
        return t;
    }
    if (interval_tick) {
        if (task_header* t = sched_.inject.pop()) return t;
    }
    if (pinned_pending_.load(std::memory_order_acquire)) drain_pinned_inbox();
    if ((countdown_ & 1U) && !pinned_ready_.empty()) {
        task_header* t = pinned_ready_.front();
        pinned_ready_.pop_front();
        return t;
    }
    if (task_header* t = local_.pop()) return t;
    if (!pinned_ready_.empty()) {
        task_header* t = pinned_ready_.front();
        pinned_ready_.pop_front();
        return t;
    }
    if (sched_.inject.is_empty()) return nullptr;
    std::size_t n =
        std::min<std::size_t>(sched_.inject.len() / sched_.num_workers() + 1,
                              std::min<std::size_t>(local_.remaining(), local_queue::capacity / 2));
    return sched_.inject.pop_batch(n, [this](task_header* t) { local_.push_back_unchecked(t); });
}

task_header* worker::search() {
    if (sched_.num_workers() == 1) return nullptr;
    if (stolen_run_since_ns_ != 0) note_stolen_run_end();
    if (!searching_) {
        if (!sched_.idle_state.transition_to_searching()) return nullptr;
        searching_ = true;
    }
    if (task_header* t = steal()) return t;
    return sched_.inject.pop();
}

task_header* worker::steal() {
    // Held off (see hold_steals()): leave the other workers' queues alone until then.
    if (std::int64_t hold = steal_hold_.until_ns.load(std::memory_order_relaxed);
        hold != 0 && latency_clock_ns() < hold) {
        return nullptr;
    }
    std::size_t n = sched_.num_workers();
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    std::size_t start = rng_ % n;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t j = (start + i) % n;
        if (j == index_) continue;
        local_queue& victim = sched_.worker_at(j).local_;
        // An empty ring has nothing to steal: skip it before the clock read that times the
        // steal, which an idle worker's search would otherwise pay on every pass.
        if (victim.is_empty()) continue;
        const std::int64_t began_ns = latency_clock_ns();
        std::uint32_t stolen = 0;
        if (task_header* t = victim.steal_into(local_, stolen)) {
            bump(stats.steals, stolen);
            bump(stats.steal_operations);
            // The stolen run starts: note_stolen_run_end() weighs it when the queues are
            // empty again.
            stolen_run_since_ns_ = latency_clock_ns();
            stolen_run_polls_ = stats.polls.load(std::memory_order_relaxed);
            stolen_run_ops_ = 0;
            budget_ = coop_budget;  // no task runs now: the first enter() then adds nothing
            payoff_.note_steal(stolen_run_since_ns_ - began_ns);
            return t;
        }
    }
    return nullptr;
}

void worker::note_stolen_run_end() noexcept {
    // The queues ran dry after a steal: weigh what it brought (steal_payoff.hpp). Two clock
    // reads per steal, which itself costs hundreds of nanoseconds.
    const std::int64_t run_ns = latency_clock_ns() - stolen_run_since_ns_;
    const std::uint64_t runs = stats.polls.load(std::memory_order_relaxed) - stolen_run_polls_;
    // The last task run's budget units are not counted yet (no task started since).
    const std::uint64_t ops = stolen_run_ops_ + (coop_budget - budget_);
    stolen_run_since_ns_ = 0;
    const bool paid = payoff_.pays();
    const bool pays = payoff_.note_stolen_run(run_ns, runs, ops);
    // Relaxed: a hint for hold_steals(), which only delays steals. Written only when the
    // verdict flips (the owner's own copy tells, without loading the line that other
    // workers write on each cross-worker wake), so that line stays shared.
    if (pays != paid) steal_hold_.steals_pay.store(pays, std::memory_order_relaxed);
}

void worker::hold_steals() noexcept {
    // Relaxed: a hint that only delays steals, never loses work (a worker whose steals are
    // held parks with the hold's end as its deadline). Written only when it would move the
    // end by a quarter of the hold or more: every cross-worker wake would otherwise write
    // this worker's line, and on the VM a line moved between cores costs ~225 ns.
    if (steal_hold_.steals_pay.load(std::memory_order_relaxed)) return;
    const std::int64_t until = latency_clock_ns() + steal_hold_ns;
    if (steal_hold_.until_ns.load(std::memory_order_relaxed) < until - steal_hold_ns / 4) {
        steal_hold_.until_ns.store(until, std::memory_order_relaxed);
    }
}

[[gnu::always_inline]] inline void worker::push_back(task_header* t) {
    if (seeded_) {
        seeded_ready_.push_back(t);
        return;
    }
    if (t->pinned_) {
        pinned_ready_.push_back(t);
        return;
    }
    if (local_.push_back(t, sched_.inject)) {
        bump(stats.overflows);
        sched_.notify_parked();
    }
}

[[gnu::always_inline]] inline void worker::push_stealable(task_header* t) {
    // Every runnable task that goes into the ring (a wake, a yield, a task moved out of the
    // LIFO slot, one whose wake raced its switch-out) may be stolen from there, and this
    // worker may run a long task before it gets back to it: a parked peer must hear of it.
    // Each queueing that once skipped this stranded a task behind its worker's next one.
    push_back(t);
    // A test's stand-in for a notify that never came, to check what bounds its miss (the
    // monitor: scheduler::monitor_main).
    if (fault::hit(fault::point::lost_notify)) return;
    // With one worker there is no peer: the ring's only consumer is this worker, which is
    // running and re-checks its ring before it parks (park()). The fence and idle-state read
    // of notify_parked were 4 ns of a one-worker yield's 55 (docs/performance.md).
    if (sched_.num_workers() > 1) sched_.notify_parked();
}

void worker::schedule_local(task_header* t, bool lifo) {
    if (firing_timers_ && !seeded_ && !t->pinned_) {
        timer_ready_.push_back(t);
        return;
    }
    if (lifo && !seeded_) {
        task_header* prev = std::exchange(lifo_, t);
        if (!prev) return;
        t = prev;  // the slot's previous task goes to the ring
    }
    push_stealable(t);
}

void worker::schedule_pinned(task_header* t) {
    if (this_thread_context().w == this) {
        if (seeded_) {
            seeded_ready_.push_back(t);
        } else {
            pinned_ready_.push_back(t);
        }
        return;
    }
    {
        std::lock_guard lock(pinned_mu_);
        pinned_inbox_.push_back(t);
        pinned_pending_.store(true, std::memory_order_seq_cst);
    }
    if (parked_.load(std::memory_order_seq_cst)) unpark();
}

void worker::drain_pinned_inbox() {
    std::lock_guard lock(pinned_mu_);
    // Ordering: release, read with acquire by scheduler::try_auto_advance: whoever sees the
    // inbox drained also sees this worker's earlier unpark_by_id (it counts as unparked), so a
    // task that moves from the inbox to pinned_ready_ is never invisible to both reads.
    pinned_pending_.store(false, std::memory_order_release);
    for (task_header* t : pinned_inbox_) pinned_ready_.push_back(t);
    pinned_inbox_.clear();
}

void worker::unpark() {
    boost::asio::post(io_, [] {});
}

void worker::wake_if_sleeping_past(std::int64_t deadline_ns) noexcept {
    std::int64_t s = sleep_until_ns_.load(std::memory_order_seq_cst);
    while (s > deadline_ns) {
        if (sleep_until_ns_.compare_exchange_weak(s, awake, std::memory_order_acq_rel)) {
            // Relaxed: a hint the sleeper takes after the unpark's post, whose queue mutex
            // orders it; one that it misses (it woke meanwhile for another reason) costs at
            // most one wake-up too many at that deadline.
            woken_for_ns_.store(deadline_ns, std::memory_order_relaxed);
            unpark();
            return;
        }
    }
}

bool worker::has_local_work() const {
    return handoff_ || lifo_ || !local_.is_empty() || !pinned_ready_.empty() ||
           !seeded_ready_.empty() || !timer_ready_.empty() ||
           pinned_pending_.load(std::memory_order_seq_cst);
}

bool worker::spin_for_work() {
    // A worker that ran dry parks, and the next task queued for it wakes it through a futex
    // and the OS scheduler: about 10 us on the VM, longer than many tasks of a fan-out. While
    // its steals pay (steal_payoff.hpp: the work it steals runs long enough to be worth
    // moving, so the other worker is busy making more), it keeps looking for a while first.
    // It stays a searcher meanwhile, which tells producers not to wake a sleeper for their
    // tasks (idle.hpp): this worker finds them in the rings or the global queue. Its shard's
    // I/O and timers are polled every few passes, so a socket that turns ready or a timer
    // that falls due during the spin waits a pass, not the spin's length.
    // Nothing spins when the gate is shut: steals that do not pay (a ping-pong pair, tasks
    // that share a lock), a single worker, a paused clock (its jumps need every worker
    // parked), a seeded order, or no other worker awake (then only I/O, a timer or another
    // thread can bring work, and the park waits for all three without burning a core).
    if (!searching_ || seeded_ || !payoff_.pays() || sched_.is_paused() ||
        sched_.idle_state.num_unparked() < 2) {
        return false;
    }
    const std::int64_t until = latency_clock_ns() + spin_before_park_ns;
    for (unsigned pass = 1;; ++pass) {
        if (has_local_work() || !sched_.inject.is_empty() || sched_.is_stopping()) return true;
        if (task_header* t = steal()) {
            handoff_ = t;  // run next by the loop, like a leaving task's hand-off
            return true;
        }
        if (pass % spin_io_poll_passes == 0) {
            if ((ring_ && ring_->flush() > 0) || io_.poll() > 0 || sched_.fire_due_timers() > 0)
                return true;
            if (latency_clock_ns() >= until) return false;
            // The other workers parked: only I/O, a timer or another thread can bring work.
            if (sched_.idle_state.num_unparked() < 2) return false;
        }
        spin_lock::cpu_relax();
    }
}

void worker::park() {
    trim_spare_stacks();
    trim_task_blocks();
    auto now = std::chrono::steady_clock::now();
    bump(stats.busy_ns,
         static_cast<std::uint64_t>(
             std::chrono::duration_cast<std::chrono::nanoseconds>(now - busy_since_).count()));
    bump(stats.parks);
    bool was_searching = std::exchange(searching_, false);
    // While its steals are held off (hold_steals()) this worker may not steal, so waking it
    // for work in another worker's queue would only make it park again: it sleeps until the
    // hold ends instead (below), and looks then. (Not on a paused clock, whose park below has
    // no deadline of its own.)
    // (Never held: 0 is the clock's epoch, long past.)
    const std::chrono::steady_clock::time_point hold_end{
        std::chrono::nanoseconds(steal_hold_.until_ns.load(std::memory_order_relaxed))};
    const bool steal_limited = now < hold_end && !sched_.is_paused();
    if (sched_.idle_state.transition_to_parked(index_, was_searching)) {
        // The last searcher gives up: make sure work that arrived meanwhile is not stranded.
        if (!sched_.inject.is_empty()) sched_.notify_parked();
        for (std::size_t i = 0; i < sched_.num_workers() && !steal_limited; ++i) {
            if (i != index_ && !sched_.worker_at(i).local_.is_empty()) {
                sched_.notify_parked();
                break;
            }
        }
    }
    for (;;) {
        // A handler that the last wait below ran may have queued ring entries without
        // submitting them (a read that a task resumed on another worker posted back to this
        // ring's owner, its cancel or its close): they go to the kernel before this thread
        // waits again, or nothing would ever submit them. Its completions may wake tasks here,
        // which the check below sees. (Before the first wait, the loop flushed already: two
        // loads.)
        if (ring_) ring_->flush();
        // The kernel refused that submission (memory pressure): the entries stay queued, and
        // this park waits at most resubmit_after before the next try.
        const bool resubmit = ring_ && ring_->has_unsubmitted();
        parked_.store(true, std::memory_order_seq_cst);
        // Ordering: we are registered as a sleeper (seq_cst) before this check, and a producer
        // publishes its task before reading the sleeper state; so either it sees us parked
        // and wakes us, or we see its task here. A worker that was not searching (a single
        // worker never is) has no other chance to notice the global queue.
        if (has_local_work() || !sched_.inject.is_empty() || sched_.is_stopping()) {
            parked_.store(false, std::memory_order_relaxed);
            searching_ = !sched_.idle_state.unpark_by_id(index_);
            break;
        }
        if (sched_.is_paused()) {
            // Virtual time: when nothing else can run, jump to the next deadline. Having fired
            // timers, we are out of the sleepers already (see try_auto_advance).
            if (auto a = sched_.try_auto_advance(index_); a.fired) {
                parked_.store(false, std::memory_order_relaxed);
                searching_ = !a.was_sleeper;
                break;
            }
            if (resubmit) {
                io_.run_one_for(resubmit_after);
            } else {
                io_.run_one();
            }
            bump(stats.wakeups);
        } else {
            // Publish how long we sleep, then look at the heaps again: a timer armed
            // meanwhile is either seen here or its armer sees our deadline and wakes us
            // (scheduler::on_timer_armed); seq_cst on both sides.
            std::int64_t next = sched_.next_timer_ns();
            // A deadline whose arming woke this worker stays in its sleeps until it passes,
            // even once that timer is gone: the timers a select's losing branch arms and
            // disarms at once (weft::select([&] { return rx.recv(); }, [&] { return
            // ticker.tick(); })) re-arm the same or a later deadline a moment later, and
            // each arming woke this worker again (futex wake and wake-up, 13% of the select
            // row's samples). Kept, the next arming sees this worker sleep no later than its
            // deadline and leaves it alone; the cost is one wake-up at the kept deadline. It
            // only ever shortens a sleep, so no timer fires later than before.
            if (kept_deadline_ns_ != timer_heap::none &&
                kept_deadline_ns_ <= std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         sched_.now().time_since_epoch())
                                         .count()) {
                kept_deadline_ns_ = timer_heap::none;  // passed
            }
            next = std::min(next, kept_deadline_ns_);
            for (;;) {
                sleep_until_ns_.store(next, std::memory_order_seq_cst);
                std::atomic_thread_fence(std::memory_order_seq_cst);
                std::int64_t again = sched_.next_timer_ns();
                if (again >= next) break;
                next = again;
            }
            auto until = std::chrono::steady_clock::time_point::max();
            // Woken when the hold ends at the latest: the other queues were not checked above
            // (a worker that runs a long task may have work queued there).
            if (steal_limited) until = hold_end;
            if (next != timer_heap::none) until = std::min(until, sched_.to_steady(next));
            if (resubmit) {
                until = std::min(until, std::chrono::steady_clock::now() + resubmit_after);
            }
            if (until == std::chrono::steady_clock::time_point::max()) {
                io_.run_one();
            } else {
                io_.run_one_until(until);
            }
            sleep_until_ns_.store(awake, std::memory_order_relaxed);
            bump(stats.wakeups);
            kept_deadline_ns_ =
                std::min(kept_deadline_ns_,
                         woken_for_ns_.exchange(timer_heap::none, std::memory_order_relaxed));
        }
        parked_.store(false, std::memory_order_relaxed);
        // A paused clock's timers are fired by try_auto_advance alone while we are parked:
        // tasks fired here would sit on our private lists, unseen by another worker's
        // auto-advance, which could jump the clock again before they ran.
        if (!sched_.is_paused()) sched_.fire_due_timers();
        if (has_local_work() || sched_.is_stopping()) {
            searching_ = !sched_.idle_state.unpark_by_id(index_);
            break;
        }
        if (sched_.idle_state.is_parked(index_)) {
            // Woken by I/O, a timer or a current_thread driver wake: check the caller's
            // predicate before parking again.
            if (!sched_.is_multi_thread()) {
                sched_.idle_state.unpark_by_id(index_);
                break;
            }
            if (steal_limited && std::chrono::steady_clock::now() >= hold_end) {
                // The hold is over: look at the other queues (search()).
                searching_ = !sched_.idle_state.unpark_by_id(index_);
                break;
            }
            continue;
        }
        searching_ = sched_.num_workers() > 1;  // a notifier marked us searching
        if (!searching_) sched_.idle_state.transition_from_searching();
        break;
    }
    busy_since_ = std::chrono::steady_clock::now();
}

void worker::run_task(task_header* t) {
    if (searching_) {
        searching_ = false;
        if (sched_.idle_state.transition_from_searching()) sched_.notify_parked();
    }
    bump(stats.polls);
    if (t->inline_) {
        // An Asio handler: runs here, on the worker's stack; it is not a task.
        t->run();
        t->release();
        return;
    }
    task_state_word::snapshot s = t->state_.load();
    if (s.has_run()) {
        t->state_.transition_to_running_again(s);
        resume(t);
        return;
    }
    // A first run (`started` is set only here and in start_direct, by the claimer).
    if (t->state_.transition_to_running_first().is_cancelled()) {
        // Aborted before it ever ran: F is destroyed, never called.
        t->drop_callable();
        t->outcome_ = outcome::cancelled;
        sched_.finish(t);
        return;
    }
    try {
        start_fiber(t);
    } catch (...) {
        t->drop_callable();
        t->exception_ = std::current_exception();
        t->outcome_ = outcome::exception;
        sched_.finish(t);
        return;
    }
    resume(t);
}

void worker::start_fiber(task_header* t) { bind_stack(t, take_stack(t)); }

fiber_stack worker::take_stack(task_header* t) {
    std::size_t size = t->stack_size_ ? mapped_stack_size(t->stack_size_) : default_stack_;
    std::uint64_t fresh_before = stacks_.fresh_count();
    fiber_stack s = stacks_.take(size);
    if (stacks_.fresh_count() != fresh_before) {
        // A new mapping costs microseconds (syscalls, page faults): 61 of them in a row would
        // hold due timers and I/O back for a millisecond or more, so look at both after this
        // task instead of at the next interval tick. Against that cost the check is free.
        maintenance_due_ = true;
    }
    return s;
}

void worker::bind_stack(task_header* t, const fiber_stack& s) noexcept {
#if WEFT_ASAN
    __asan_unpoison_memory_region(s.bottom(), s.usable());
#endif
    t->stack_base_ = s.base;
    t->stack_len_ = s.len;
    t->stack_kind_ = static_cast<std::uint8_t>(s.kind);
    t->fiber_ctx_ = make_context(s.top(), s.usable(), &fiber_entry);
#if WEFT_TSAN
    // A TSan fiber costs about 2 ms to create and destroy (TSan maps and clears a thread
    // state for it each time), which made every task of the TSan suite cost 1.5 ms, so a
    // finished task's fiber carries a few more tasks. Reuse adds no happens-before edge: the
    // switch into a fiber synchronises with the switcher either way. What reuse does leave is
    // TSan's record of the frames a task never returned from (fiber_entry, fiber_main and
    // suspend: a finished fiber switches away from inside them), three entries per task on a
    // fixed-size shadow stack, which is why a fiber is reused a bounded number of times.
    if (!spare_tsan_fibers_.empty()) {
        const spare_tsan_fiber f = spare_tsan_fibers_.back();
        spare_tsan_fibers_.pop_back();
        t->tsan_fiber_ = f.fiber;
        t->tsan_fiber_uses_ = static_cast<std::uint8_t>(f.uses + 1);
    } else {
        t->tsan_fiber_ = __tsan_create_fiber(0);
        t->tsan_fiber_uses_ = 1;
    }
#endif
}

void worker::enter(task_header* t, std::int64_t now_ns) noexcept {
    current_ = t;
    t->worker_ = this;
    running_id.store(t->id_, std::memory_order_relaxed);
    // The budget the previous task run took (reset at each start, so what is gone is what it
    // used) counts towards the stolen run under way: steal_payoff weighs operations too.
    if (stolen_run_since_ns_ != 0) stolen_run_ops_ += coop_budget - budget_;
    budget_ = coop_budget;
    if (histograms) [[unlikely]]
        note_resumed(t, now_ns);
}

void worker::note_resumed(task_header* t, std::int64_t now_ns) noexcept {
    if (now_ns == 0) now_ns = latency_clock_ns();
    // safety: ready_ns_ was written by whoever made t runnable, before the queue push that
    // published t to this worker (or by this thread, for its own queues).
    latency.schedule_latency.record(now_ns - t->ready_ns_);
    resumed_at_ns_ = now_ns;
}

std::int64_t worker::note_switched_out(task_header* t) noexcept {
    const std::int64_t now_ns = latency_clock_ns();
    latency.run_time.record(now_ns - resumed_at_ns_);
    // safety: t is still running here, so no waker writes ready_ns_ now: a wake while it runs
    // only marks it notified, and the waker that calls schedule() does so after the switch-out
    // made t idle, a transition ordered after this store (after_switch's release).
    t->ready_ns_ = now_ns;
    return now_ns;
}

void worker::resume(task_header* t) {
    enter(t, 0);
    sched_eh_ = swap_eh_state(eh_globals_, {t->eh_caught_, t->eh_uncaught_});
#if WEFT_ASAN
    fiber_stack s{t->stack_base_, t->stack_len_, static_cast<stack_kind>(t->stack_kind_)};
    __sanitizer_start_switch_fiber(&asan_fake_, s.bottom(), s.usable());
#endif
#if WEFT_TSAN
    __tsan_switch_to_fiber(t->tsan_fiber_, 0);
#endif
    context_transfer tr = switch_context(t->fiber_ctx_, this);
    // Back on the worker's stack, from whichever task last ran here (maybe not `t`): it
    // installed the worker's exception state before jumping.
#if WEFT_ASAN
    __sanitizer_finish_switch_fiber(asan_fake_, nullptr, nullptr);
#endif
    current_ = nullptr;
    running_id.store(0, std::memory_order_relaxed);
    arrive(tr.from);
}

[[gnu::always_inline]] inline void worker::arrive(void* from) {
    task_header* p = std::exchange(prev_, nullptr);
    if (!p) {
        sched_ctx_ = from;
        return;
    }
    p->fiber_ctx_ = from;
    after_switch(p);
}

task_header* worker::next_direct() {
    if (!direct_ok_ || handoff_ || maintenance_due_) return nullptr;
    task_header* n = next_task();
    if (!n) return nullptr;
    if (n->inline_ || maintenance_due_) {
        // A handler runs on the worker's stack; maintenance comes first: the loop's business.
        handoff_ = n;
        return nullptr;
    }
    task_state_word::snapshot s = n->state_.load();
    if (s.has_run()) {
        n->state_.transition_to_running_again(s);
    } else if (!start_direct(n, s)) {
        handoff_ = n;
        return nullptr;
    }
    bump(stats.polls);
    return n;
}

bool worker::start_direct(task_header* n, task_state_word::snapshot s) {
    // A first run. The loop keeps the cases that run user code outside the task (an abort
    // before the start destroys the callable) or report an error (no stack): the stack is
    // taken before the task is claimed, so either way the task is handed over untouched.
    if (s.is_cancelled()) return false;
    fiber_stack stack;
    try {
        stack = take_stack(n);
    } catch (...) {
        return false;  // run_task tries again and reports it
    }
    if (!n->state_.try_transition_to_started()) {  // aborted meanwhile
        stacks_.give(stack);
        return false;
    }
    bind_stack(n, stack);
    return true;
}

[[gnu::noinline]] worker* worker::suspend(task_header* t, switch_reason why) {
    // Runs on t's stack. Nothing here touches `w` after the jump: t may come back on another
    // worker.
    worker* w = t->worker_;
    w->reason_ = why;
    w->prev_ = t;
    void** fake_slot = why == switch_reason::done ? nullptr : &t->asan_fake_stack_;
    (void)fake_slot;
    context_transfer tr;
    // Histograms on: the clock read that ends t's run also starts the next task's.
    const std::int64_t now_ns = w->histograms ? w->note_switched_out(t) : 0;
    if (task_header* n = w->sched_.is_stopping() ? nullptr : w->next_direct()) {
        eh_state mine = swap_eh_state(w->eh_globals_, {n->eh_caught_, n->eh_uncaught_});
        t->eh_caught_ = mine.caught;
        t->eh_uncaught_ = mine.uncaught;
        w->enter(n, now_ns);
#if WEFT_ASAN
        fiber_stack s{n->stack_base_, n->stack_len_, static_cast<stack_kind>(n->stack_kind_)};
        __sanitizer_start_switch_fiber(fake_slot, s.bottom(), s.usable());
#endif
#if WEFT_TSAN
        __tsan_switch_to_fiber(n->tsan_fiber_, 0);
#endif
        tr = switch_context(n->fiber_ctx_, w);
    } else {
        eh_state mine = swap_eh_state(w->eh_globals_, w->sched_eh_);
        t->eh_caught_ = mine.caught;
        t->eh_uncaught_ = mine.uncaught;
#if WEFT_ASAN
        __sanitizer_start_switch_fiber(fake_slot, w->asan_stack_bottom_, w->asan_stack_size_);
#endif
#if WEFT_TSAN
        __tsan_switch_to_fiber(w->tsan_fiber_, 0);
#endif
        tr = switch_context(w->sched_ctx_, w);
    }
    WEFT_INVARIANT(why != switch_reason::done, "a finished fiber is never resumed");
    auto* nw = static_cast<worker*>(tr.data);
    nw->arrived_in_fiber(t->asan_fake_stack_, tr.from);
    return nw;
}

void worker::arrived_in_fiber(void* fake_stack, void* from) {
#if WEFT_ASAN
    const void* bottom = nullptr;
    std::size_t size = 0;
    __sanitizer_finish_switch_fiber(fake_stack, &bottom, &size);
    if (!prev_) {  // from the worker's own stack: remember it for switching back
        asan_stack_bottom_ = bottom;
        asan_stack_size_ = size;
    }
#else
    (void)fake_stack;
#endif
    arrive(from);
}

void worker::fiber_main(void* fctx, void* data) {
    auto* w = static_cast<worker*>(data);
    w->arrived_in_fiber(nullptr, fctx);
    task_header* t = w->current_;
    t->run();
    // Completed on its own fiber: result and task_local destructors and the hooks run as
    // this task (they may even suspend it), never on the next task's fiber after a direct
    // switch. Only the stack's return and the runtime's reference are left for after_switch.
    t->sched_->complete(t);
    suspend(t, switch_reason::done);
}

void worker::after_switch(task_header* t) {
    if (reason_ != switch_reason::done &&
        !saved_context_in_bounds(
            {t->stack_base_, t->stack_len_, static_cast<stack_kind>(t->stack_kind_)},
            t->fiber_ctx_)) {
        report_stack_overflow(t, true);
    }
    switch (reason_) {
        case switch_reason::done:
            finish_fiber(t);
            sched_.forget(t);  // complete() ran on t's fiber before it left
            return;
        case switch_reason::yield:
            // The state stays `running` (see run_task): the queue entry is the only one, and
            // the release store that publishes it also publishes the saved context.
            push_stealable(t);  // behind the ready ones
            return;
        case switch_reason::park:
        case switch_reason::none: {
            // Ordering: the fiber's context was saved (resume() stored it) before this
            // transition's release, so whoever schedules it next resumes a complete context.
            if (t->state_.transition_to_idle()) {
                // A wake raced with the switch-out: the task is runnable again, and it goes to
                // the ring like any wake (without the notify, a 5 ms sleep woken during its own
                // switch-out returned after 1.5 s behind this worker's next task).
                push_stealable(t);
            }
            return;
        }
    }
}

void worker::finish_fiber(task_header* t) {
    fiber_stack s{t->stack_base_, t->stack_len_, static_cast<stack_kind>(t->stack_kind_)};
    stacks_.give(s);
    t->stack_base_ = nullptr;
    t->fiber_ctx_ = nullptr;
#if WEFT_TSAN
    // After the task's last switch away (bind_stack says why it may carry another task).
    if (t->tsan_fiber_uses_ < max_tsan_fiber_uses &&
        spare_tsan_fibers_.size() < max_spare_tsan_fibers) {
        spare_tsan_fibers_.push_back({t->tsan_fiber_, t->tsan_fiber_uses_});
    } else {
        __tsan_destroy_fiber(t->tsan_fiber_);
    }
    t->tsan_fiber_ = nullptr;
#endif
}

}  // namespace weft::detail
