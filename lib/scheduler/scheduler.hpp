// scheduler: the shared state of one runtime: its workers, the global (inject) queue, the
// idle/searching bookkeeping, the list of live tasks and the blocking pool. A runtime owns
// one; handles share it.
#pragma once

#include "blocking_pool.hpp"
#include "idle.hpp"
#include "inject_queue.hpp"
#include "owned_tasks.hpp"
#include "worker.hpp"

#include <weft/metrics.hpp>
#include <weft/runtime/builder.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace weft::detail {

class scheduler : public std::enable_shared_from_this<scheduler> {
   public:
    explicit scheduler(runtime_config cfg);
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;
    ~scheduler();

    /// Starts the worker threads (multi_thread only).
    void start();
    /// Cancels every task, waits at most `timeout` for them to unwind, joins the threads.
    /// Idempotent.
    void shutdown(std::chrono::nanoseconds timeout);

    void submit(task_header* t, spawn_options&& opts);
    /// Makes an idle task runnable (the wake path; `t` already marked scheduled).
    void schedule(task_header* t, bool lifo = true);
    /// Completes `t` (outcome written): complete() then forget(). Called once, by whoever ran
    /// it, for tasks that did not end on their own fiber (aborted before they started, a
    /// failed start, blocking-pool jobs).
    void finish(task_header* t);
    /// The first half of finishing, run by the task itself on its own fiber when it ends (or
    /// by finish()): drops its task_local storage and, when no handle will take it, its
    /// result, then sets `complete`, wakes the joiner, reports an unhandled exception and
    /// calls the on_task_terminate hook. Everything that may run user code (destructors,
    /// the hook) runs here, where this_task::id() is `t`'s and a destructor that suspends
    /// suspends `t`, not whatever task the worker switches to next.
    void complete(task_header* t);
    /// The second half: forgets the completed task (live-task list, shutdown's count) and
    /// drops the runtime's reference. Runs no user code; after a direct switch it runs on the
    /// next task's fiber, once `t`'s stack is no longer in use.
    void forget(task_header* t);
    /// Wakes one parked worker if nobody is searching.
    void notify_parked();
    /// Queues an Asio handler's task (weft::executor's execute): on the calling worker's
    /// queues when it is one of this runtime's, else through the global queue, counted as a
    /// wake from outside so that it cannot land after shutdown drained the queues (once the
    /// runtime stops, the handler is destroyed without being invoked).
    void submit_handler(task_header* t, bool continuation);
    /// Drives `t` to completion from the calling (non-runtime) thread.
    void block_on(task_header* t);

    void report_unhandled(task_header* t);
    [[nodiscard]] std::exception_ptr shutdown_exception();

    [[nodiscard]] bool is_stopping() const { return stopping_.load(std::memory_order_acquire); }
    [[nodiscard]] bool is_multi_thread() const { return cfg_.multi_thread; }
    [[nodiscard]] const runtime_config& config() const { return cfg_; }
    [[nodiscard]] std::size_t num_workers() const { return workers_.size(); }
    worker& worker_at(std::size_t i) { return *workers_[i]; }

    // ---- time (lib/time/clock.cpp) ----
    /// The runtime's clock: steady + offset, or the frozen virtual time while paused.
    [[nodiscard]] std::chrono::steady_clock::time_point now() const noexcept;
    [[nodiscard]] bool is_paused() const noexcept {
        return paused_.load(std::memory_order_acquire);
    }
    void pause_clock();
    void resume_clock();
    void advance_clock(std::chrono::nanoseconds d);
    /// Earliest pending timer over every worker (steady ns since epoch), or timer_heap::none.
    [[nodiscard]] std::int64_t next_timer_ns() const noexcept;
    /// Fires the due timers of every worker's heap; those of other workers only once they are
    /// `foreign_grace_ns` overdue (see worker::maintenance). Returns how many fired.
    std::size_t fire_due_timers(std::int64_t foreign_grace_ns = 0);
    /// A timer was armed on `self`'s heap: wakes a worker parked past its deadline. Without
    /// this a parked worker slept on while the timer's owner ran one long task, and the
    /// timer fired only when that task ended.
    void on_timer_armed(const worker* self, std::int64_t deadline_ns) noexcept;
    /// What try_auto_advance did for the parked worker that called it.
    struct auto_advance {
        bool fired = false;        ///< it fired timers and counts the caller as unparked
        bool was_sleeper = false;  ///< the caller was still in the sleepers (not notified)
    };
    /// Paused clock: when nothing else can make progress, jump to the next deadline and fire
    /// it. Called by a parked worker (`self`); when it fires something it also takes `self`
    /// out of the sleepers, as the woken tasks may be on its private lists.
    auto_advance try_auto_advance(std::size_t self);
    /// Converts a deadline of the runtime's clock to steady_clock (for real sleeps).
    [[nodiscard]] std::chrono::steady_clock::time_point to_steady(
        std::int64_t clock_ns) const noexcept;

    runtime_metrics metrics() const;
    /// Every live task; with `backtraces`, the stacks of up to dump_backtrace_tasks suspended
    /// ones too (each borrowed for the read, see dump_backtraces in scheduler.cpp).
    std::vector<task_info> dump(bool backtraces = false) const;

    /// True while `s` is a live scheduler (for tasks that outlive their runtime).
    static bool is_live(const scheduler* s);
    /// The task dump (format_dump, with backtraces) of every live scheduler, each under a
    /// heading; for a watchdog that found the process stuck (the test harness's). Holds the
    /// registry's lock meanwhile, so no scheduler goes away during its dump.
    static std::string dump_every_live();

    inject_queue inject;
    idle idle_state;
    std::atomic<long> outstanding_work{0};  // executors with outstanding_work.tracked
    // Where the next floating executor binds (weft::executor: the shards in turn). Relaxed:
    // any spread will do, only the count matters.
    std::atomic<std::size_t> next_shard{0};
    owned_tasks owned;
    blocking_pool blocking;

   private:
    friend class worker;
    void drop_queued_handlers();
    void wait_for_foreign_wakes() noexcept;
    /// Queues `t` from a thread that is not one of this runtime's workers, unless the runtime
    /// is stopping (then false, and nothing was queued). See schedule().
    bool push_from_outside(task_header* t);
    static void keep_forever(std::shared_ptr<scheduler> s);
    // Wakes from threads that are not this runtime's workers, in flight (see schedule()).
    std::atomic<std::uint32_t> foreign_wakes_{0};
    /// Undoes submit's insertion and reference when the spawn fails after them.
    void unsubmit(task_header* t) noexcept;
    void monitor_main();
    /// Prints the warning for task `id` holding worker `worker`: the first of a stall episode
    /// (`first`) or a repeat, with the task's stack when `stall_signal_` can read it.
    void report_blocked(std::size_t worker, task_id id, std::chrono::nanoseconds held, bool first);
    void dump_backtraces(std::vector<task_header*>& parked, std::vector<task_info>& out) const;
    task_info describe(task_header* t) const;
    /// Histograms on: stamps `t` runnable as of now, before the push that publishes it.
    void mark_ready(task_header* t) const noexcept {
        if (cfg_.latency_histograms) [[unlikely]]
            t->ready_ns_ = latency_clock_ns();
    }

    runtime_config cfg_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
    std::thread monitor_;   // blocked-worker detection
    int stall_signal_ = 0;  // the signal that reads a blocked worker's stack; 0: none
    std::mutex monitor_mu_;
    std::condition_variable monitor_cv_;
    bool monitor_stop_ = false;
    std::atomic<bool> stopping_{false};
    // Spawns from outside the workers (theirs count in worker::stats): written by the
    // spawning thread at every spawn, so on a cache line of its own. Beside stopping_ and
    // paused_, which every worker reads in every pass of its loop, each spawn took the line
    // from both workers and each of their next reads took it back (perf: the increment was a
    // third of the remote spawner's time in submit, spawn_remote's slow rounds).
    struct alignas(64) padded_count {
        std::atomic<std::uint64_t> n{0};
    };
    padded_count spawned_;
    std::mutex driver_mu_;  // current_thread: one block_on drives at a time

    std::atomic<bool> paused_{false};
    std::atomic<std::int64_t> virtual_ns_{0};  // the frozen clock while paused
    std::atomic<std::int64_t> offset_ns_{0};   // clock = steady + offset while running
    // Paused clock: one auto-advance decides and fires at a time, so a second one cannot
    // jump again while the first one's woken tasks are not yet visible (try_auto_advance).
    std::mutex advance_mu_;

    std::mutex shutdown_mu_;
    std::condition_variable all_done_cv_;
    bool shut_down_ = false;
    std::exception_ptr shutdown_exception_;
};

}  // namespace weft::detail
