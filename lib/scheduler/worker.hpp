// worker: one thread (or, for current_thread, the thread in block_on) running tasks from its
// local queue, its LIFO slot, its pinned tasks and the global queue, stealing from peers when
// idle, and parking inside its own asio::io_context shard, where I/O completions also run.
//
// Loop: next task (LIFO slot, local queue, pinned, global queue; the global queue first every
// 61 ticks so it cannot starve) -> else search (steal half of a random peer's queue) -> else
// poll the shard -> else park in io_context::run_one(). A wake is a no-op handler posted to
// the shard, so a parked worker wakes for new tasks and for I/O alike.
#pragma once

#include "../fiber/exception_state.hpp"
#include "../fiber/stack_cache.hpp"
#include "../time/timer_heap.hpp"
#include "latency_recorder.hpp"
#include "local_queue.hpp"
#include "shuffle.hpp"
#include "stall_capture.hpp"
#include "steal_payoff.hpp"

#include <weft/detail/task_header.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace weft::detail {

class scheduler;
class uring_ring;

/// Why a fiber switched back to its worker.
enum class switch_reason : std::uint8_t { none, park, yield, done };

class worker {
   public:
    worker(scheduler& s, std::size_t index);
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;
    ~worker();

    /// Runs the loop until the scheduler stops (multi_thread worker threads).
    void run();
    /// Runs the loop on the calling thread until `done()` (current_thread's block_on and
    /// shutdown), or until the scheduler stops.
    void run_until(const std::function<bool()>& done);

    /// Makes `t` runnable from this worker's thread (`t` not pinned elsewhere).
    void schedule_local(task_header* t, bool lifo);
    /// The task in the LIFO slot, if any. This worker's thread only (tests look at where a
    /// wake put its task).
    [[nodiscard]] const task_header* lifo_slot() const noexcept { return lifo_; }
    /// Brackets fire_due_timers() on this worker's thread (see timer_ready_).
    void set_firing_timers(bool on) noexcept { firing_timers_ = on; }
    /// Makes pinned task `t` (owned by this worker) runnable, from any thread.
    void schedule_pinned(task_header* t);
    /// Wakes this worker if it is parked in its shard.
    void unpark();
    /// Wakes this worker if it is parked until later than `deadline_ns` (runtime clock), so
    /// it sleeps until a timer armed meanwhile on another worker's heap (whose owner may be
    /// busy in one long task). At most one waker per park pays for the unpark.
    void wake_if_sleeping_past(std::int64_t deadline_ns) noexcept;

    /// Called in the fiber: switches to the next ready task or back to the worker loop.
    /// Returns the worker that resumed it.
    static worker* suspend(task_header* t, switch_reason why);

    boost::asio::io_context& io() { return io_; }
    /// This worker's io_uring ring for its tasks' file calls, set up on first use; null when
    /// the runtime's file backend is the blocking pool or no ring could be had. Owner thread.
    uring_ring* file_ring() {
        if (!ring_tried_) [[unlikely]]
            open_ring();
        return ring_for_files_ ? ring_.get() : nullptr;
    }
    /// The same ring for its tasks' tcp_stream transfers; null when the runtime's socket
    /// backend is the reactor (or automatic, and the ring is not cooperative), or no ring
    /// could be had. Owner thread.
    uring_ring* socket_ring() {
        if (!ring_tried_) [[unlikely]]
            open_ring();
        return ring_for_sockets_ ? ring_.get() : nullptr;
    }
    /// The ring if it was set up already (never sets one up).
    [[nodiscard]] uring_ring* ring_if_set() const noexcept { return ring_.get(); }
    timer_heap& timers() { return timers_; }
    [[nodiscard]] std::size_t index() const { return index_; }
    [[nodiscard]] scheduler& sched() const { return sched_; }
    [[nodiscard]] task_header* current() const { return current_; }
    [[nodiscard]] bool in_task() const { return current_ != nullptr; }
    /// Any thread: this worker stops stealing for a while (steal_hold_ns in worker.cpp),
    /// unless its recent steals brought real work (note_stolen_run_end()).
    /// Called when a task on another worker wakes a task that last ran here: tasks that
    /// talk to each other through a lock or a channel were split over two cores by a steal,
    /// and each of their operations now moves cache lines between the cores, which costs
    /// more than the parallelism gains (docs/performance.md, "Steals that cost more than
    /// they bring"). Wakes from I/O and timers do not count: they carry no such sharing.
    /// Tasks that do work of their own between such wakes (a pool of consumers fed over a
    /// channel) gain from the parallelism: their steals pay, and nothing is held.
    void hold_steals() noexcept;
    [[nodiscard]] std::size_t default_stack() const { return default_stack_; }

    /// Shuffle mode only: true one time in eight, from this worker's seeded generator (a
    /// park becomes a spurious wake-up, a ready operation yields). False otherwise.
    bool shuffle_coin() noexcept { return shuffle_ && (shuffle::next(shuffle_state_) & 7) == 0; }

    /// Cooperative budget: ready operations a task may perform per resumption before a
    /// cancellation point makes it yield (Tokio's coop budget).
    static constexpr unsigned coop_budget = 128;
    /// Returns true when the running task has used up its budget.
    bool consume_budget() noexcept { return budget_ == 0 || --budget_ == 0; }

    // Metrics (owner writes, anyone reads).
    struct counters {
        std::atomic<std::uint64_t> polls{0}, steals{0}, steal_operations{0}, parks{0}, wakeups{0},
            overflows{0}, busy_ns{0}, spawned{0};
    };
    counters stats;
    /// Schedule latency and run time per resumption, recorded only when `histograms` is set
    /// (builder::latency_histograms).
    latency_recorder latency;
    const bool histograms;
    /// The task being resumed right now (0 between tasks), for the blocked-worker monitor.
    std::atomic<task_id> running_id{0};
    /// The stack of the task holding this worker, read by the monitor (stall_capture.hpp).
    stall_capture stall;
    [[nodiscard]] std::size_t queue_depth() const { return local_.len(); }
    local_queue& queue() { return local_; }

    /// Owner or after the thread stopped: hands every queued task to `f` and empties the
    /// queues.
    template <class F>
    void drain_queues(F&& f) {
        if (handoff_) f(std::exchange(handoff_, nullptr));
        if (lifo_) f(std::exchange(lifo_, nullptr));
        while (task_header* t = local_.pop()) f(t);
        for (task_header* t : seeded_ready_) f(t);
        seeded_ready_.clear();
        for (task_header* t : timer_ready_) f(t);
        timer_ready_.clear();
        drain_pinned_inbox();
        for (task_header* t : pinned_ready_) f(t);
        pinned_ready_.clear();
    }

    /// Fiber entry point (see worker.cpp).
    static void fiber_main(void* transfer_fctx, void* transfer_data);

   private:
    friend class scheduler;
    task_header* next_task();
    task_header* search();
    task_header* steal();
    void note_stolen_run_end() noexcept;
    void share_timer_ready();
    void run_task(task_header* t);
    void resume(task_header* t);
    /// Makes `t` the running task. `now_ns` is the real clock if the caller read it already
    /// (histograms on), else 0.
    void enter(task_header* t, std::int64_t now_ns) noexcept;
    /// Histograms on: records how long `t` waited to run (clock `now_ns`, or read here when 0)
    /// and starts timing its run.
    void note_resumed(task_header* t, std::int64_t now_ns) noexcept;
    /// Histograms on: records how long the running task `t` ran, stamps it ready as of now
    /// (it is runnable again at once if it yields, or if a wake raced its park; a park's
    /// waker stamps it again), and returns now.
    std::int64_t note_switched_out(task_header* t) noexcept;
    void arrive(void* from);
    void arrived_in_fiber(void* fake_stack, void* from);
    task_header* next_direct();
    void start_fiber(task_header* t);
    fiber_stack take_stack(task_header* t);
    void bind_stack(task_header* t, const fiber_stack& s) noexcept;
    bool start_direct(task_header* n, task_state_word::snapshot s);
    void after_switch(task_header* t);
    void finish_fiber(task_header* t);
    /// Before a park: keeps looking for work for a few microseconds, while this worker's
    /// steals pay and another worker is awake to make some. True when it may have found some.
    bool spin_for_work();
    void park();
    bool has_local_work() const;
    /// Anything runnable here besides the LIFO slot, or in the global queue. Inline: next_task
    /// asks it on every LIFO pick past the cap (a call there cost chained_spawn ~5% more
    /// instructions).
    [[gnu::always_inline]] inline bool has_other_runnable() const;
    /// Whether a task is waiting in this worker's pinned inbox (any thread; see
    /// scheduler::try_auto_advance).
    [[nodiscard]] bool has_pinned_pending() const noexcept {
        return pinned_pending_.load(std::memory_order_seq_cst);
    }
    void drain_pinned_inbox();
    void push_back(task_header* t);
    /// push_back, then wake a parked peer if one should be (see worker.cpp).
    void push_stealable(task_header* t);
    void maintenance();
    void open_ring();
    void loop(const std::function<bool()>* done);
    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
        single_writer_add(c, by);
    }

    scheduler& sched_;
    const std::size_t index_;
    boost::asio::io_context io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    // After io_: the ring's eventfd waits in io_, so the ring must be destroyed first.
    std::unique_ptr<uring_ring> ring_;
    bool ring_tried_ = false;
    bool ring_for_files_ = false;
    bool ring_for_sockets_ = false;
    local_queue local_;
    task_header* lifo_ = nullptr;
    unsigned lifo_runs_ = 0;
    std::deque<task_header*> pinned_ready_;
    // Tasks woken by timers this worker fired: run before the local ring, so a sleeper whose
    // deadline passed does not wait behind a burst of newly spawned tasks. Not bounded: a cap
    // sent the excess through the ring, whose overflow lands at the tail of the global queue,
    // behind the whole spawn backlog (100k sleepers overshot by ~100 ms that way). Each
    // firing adds only the timers due by then, so the list cannot starve the other queues.
    std::deque<task_header*> timer_ready_;
    bool firing_timers_ = false;
    // Seeded runtimes (builder::seed, current_thread): every ready task waits here and the
    // next one is drawn at random from a generator seeded by the user, so a seed replays an
    // interleaving.
    bool seeded_ = false;
    std::uint64_t seed_state_ = 0;
    std::vector<task_header*> seeded_ready_;
    task_header* next_seeded();
    // Shuffle mode (lib/scheduler/shuffle.hpp): perturbs the next pick; true asks for the
    // global queue first.
    bool shuffle_ = false;
    std::uint64_t shuffle_state_ = 0;
    bool shuffle_order();
    std::mutex pinned_mu_;
    std::deque<task_header*> pinned_inbox_;
    std::atomic<bool> pinned_pending_{false};
    std::atomic<bool> parked_{false};
    // While parked on the real clock: the deadline it sleeps until (timer_heap::none: no
    // timer); `awake` otherwise or once a waker claimed the unpark.
    static constexpr std::int64_t awake = std::numeric_limits<std::int64_t>::min();
    std::atomic<std::int64_t> sleep_until_ns_{awake};
    // The deadline of the timer whose arming woke this worker from its sleep (written by the
    // waker that claimed the unpark, taken by this worker when it wakes), and that deadline
    // kept for the sleeps after it until it passes (owner only): see park().
    std::atomic<std::int64_t> woken_for_ns_{timer_heap::none};
    std::int64_t kept_deadline_ns_ = timer_heap::none;
    bool searching_ = false;
    // Until when (steady clock, ns) this worker does not steal; 0: never held. Written by
    // other workers (hold_steals()), read here. A cache line of its own: the fields around
    // it are written on every tick by the owner, and other workers' reads of the hold would
    // pull those into their caches and back. `steals_pay`: written by the owner only when
    // it changes (note_stolen_run_end()), read by hold_steals() on the line it loads anyway.
    struct alignas(64) steal_hold {
        std::atomic<std::int64_t> until_ns{0};
        std::atomic<bool> steals_pay{false};
    };
    steal_hold steal_hold_;
    // What this worker's steals bring, owner only: the stolen run under way (when its steal
    // ended, 0 if none, and the task runs counted then) and the verdict so far.
    std::int64_t stolen_run_since_ns_ = 0;
    std::uint64_t stolen_run_polls_ = 0;
    // Budget units its finished task runs took (enter() adds each run's as the next starts).
    std::uint64_t stolen_run_ops_ = 0;
    steal_payoff payoff_;
    std::uint32_t countdown_ = 61;  // see next_task()
    bool maintenance_due_ = false;
    std::uint64_t rng_;
    std::chrono::steady_clock::time_point busy_since_;

    // Switch state: the worker's own context while a fiber runs, and why the fiber came back.
    task_header* current_ = nullptr;
    void* sched_ctx_ = nullptr;
    switch_reason reason_ = switch_reason::none;
    task_header* prev_ = nullptr;     // the task that just switched out, until arrive()
    task_header* handoff_ = nullptr;  // taken by a leaving task for the loop to run next
    bool direct_ok_ = false;          // tasks may switch straight to the next ready task
    unsigned budget_ = coop_budget;
    std::int64_t resumed_at_ns_ = 0;  // histograms on: when the running task was resumed
    void* eh_globals_ = nullptr;
    eh_state sched_eh_;  // the worker's own exception state while a task runs
    // Sanitizer bookkeeping for the worker thread's own stack.
    void* asan_fake_ = nullptr;
    const void* asan_stack_bottom_ = nullptr;
    std::size_t asan_stack_size_ = 0;
    void* tsan_fiber_ = nullptr;
    // TSan builds: finished tasks' fibers, for the next tasks this worker starts (worker.cpp,
    // bind_stack). Its capacity is reserved once, so finish_fiber never allocates.
    struct spare_tsan_fiber {
        void* fiber;
        std::uint8_t uses;
    };
    std::vector<spare_tsan_fiber> spare_tsan_fibers_;

    std::size_t default_stack_;
    stack_cache stacks_;
    timer_heap timers_;
};

}  // namespace weft::detail
