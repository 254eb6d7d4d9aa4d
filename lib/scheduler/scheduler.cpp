// Spawn, wake, completion and shutdown for one runtime. See scheduler.hpp.
#include "scheduler.hpp"

#include "../diagnostics/backtrace.hpp"
#include "../fiber/fiber_backtrace.hpp"
#include "stall_capture.hpp"
#include "thread_context.hpp"

#include <weft/asio/executor.hpp>
#include <weft/detail/fault_injection.hpp>
#include <weft/error.hpp>
#include <weft/task/join_handle.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/core.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <set>
#include <string_view>
#include <system_error>
#include <thread>

namespace weft::detail {
std::atomic<locals_inherit_fn> locals_inherit{nullptr};

void set_locals_inherit(locals_inherit_fn f) noexcept {
    locals_inherit.store(f, std::memory_order_release);
}

namespace {

std::size_t worker_count(const runtime_config& cfg) {
    if (!cfg.multi_thread) return 1;
    if (cfg.worker_threads) return cfg.worker_threads;
    return std::max(1U, std::thread::hardware_concurrency());
}

struct live_registry {
    std::mutex mu;
    std::set<const scheduler*> live;
};
live_registry& registry() {
    static auto* r = new live_registry;  // outlives every runtime, even static ones
    return *r;
}

std::string describe_exception(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "an exception not derived from std::exception";
    }
}

}  // namespace

scheduler::scheduler(runtime_config cfg)
    : idle_state(worker_count(cfg)),
      blocking(*this, cfg.max_blocking_threads, cfg.thread_keep_alive),
      cfg_(std::move(cfg)) {
    std::size_t n = worker_count(cfg_);
    workers_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>(*this, i));
    if (cfg_.start_paused) pause_clock();
    std::lock_guard lock(registry().mu);
    registry().live.insert(this);
}

scheduler::~scheduler() {
    {
        std::lock_guard lock(registry().mu);
        registry().live.erase(this);
    }
    for (auto& th : threads_) {
        if (th.joinable()) th.detach();  // only after a failed start
    }
}

bool scheduler::is_live(const scheduler* s) {
    std::lock_guard lock(registry().mu);
    return registry().live.count(s) != 0;
}

std::string scheduler::dump_every_live() {
    std::lock_guard lock(registry().mu);
    std::string out;
    for (const scheduler* s : registry().live) {
        out += fmt::format("runtime at {} ({} workers):\n", static_cast<const void*>(s),
                           s->num_workers());
        out += format_dump(s->dump(true));
    }
    return out;
}

void scheduler::start() {
    if (cfg_.blocking_warning_threshold.count() > 0) {
        int signo = cfg_.stall_signal == -1 ? SIGRTMIN + 3 : cfg_.stall_signal;
        if (signo != 0) {
            if (install_stall_handler(signo)) {
                stall_signal_ = signo;
            } else {
                fmt::print(stderr,
                           "weft: signal {} already has a handler: blocked-worker warnings come "
                           "without the task's stack (see builder::stall_signal)\n",
                           signo);
                std::fflush(stderr);
            }
        }
        monitor_ = std::thread([this] { monitor_main(); });
    }
    if (!cfg_.multi_thread) return;
    threads_.reserve(workers_.size());
    for (auto& w : workers_) {
        worker* wp = w.get();
        try {
            if (fault::hit(fault::point::thread_create)) fault::fail(fault::point::thread_create);
            threads_.emplace_back([this, wp] {
                std::string name = cfg_.thread_name.substr(0, 15);  // the kernel's limit
                ::pthread_setname_np(::pthread_self(), name.c_str());
                if (cfg_.on_thread_start) cfg_.on_thread_start();
                wp->run();
                if (cfg_.on_thread_stop) cfg_.on_thread_stop();
            });
        } catch (const std::system_error& e) {
            // The workers already started run on this scheduler, which build() is about to
            // destroy: stop and join them first.
            shutdown(std::chrono::nanoseconds(0));
            throw std::system_error(e.code(),
                                    fmt::format("weft::builder::build: could not start worker "
                                                "thread {} of {}",
                                                wp->index() + 1, workers_.size()));
        }
    }
}

void scheduler::submit(task_header* t, spawn_options&& opts) {
    if (!opts.name.empty()) t->name_ = std::move(opts.name);
    t->stack_size_ = opts.stack_size;
    t->pinned_ = opts.pinned || opts.branch_of;
    t->blocking_ = opts.blocking;
    t->sched_ = this;
    thread_context& ctx = this_thread_context();
    worker* here = (ctx.w && &ctx.w->sched() == this) ? ctx.w : nullptr;
    if (opts.branch_of) {
        t->identity_ = opts.branch_of->identity_;
        t->locals_ = opts.branch_of->locals_;
    } else if (task_header* parent = ctx.w ? ctx.w->current() : nullptr;
               parent && parent->locals_) {
        if (locals_inherit_fn f = locals_inherit.load(std::memory_order_acquire)) {
            t->locals_ = f(parent->locals_);
        }
    }
    if (t->pinned_ && !here) {
        throw no_runtime(
            "weft::spawn_local: must be called on a worker thread of the runtime (from a task "
            "or a handler running on a worker)");
    }
    t->add_ref();  // the runtime's reference, dropped by forget()
    if (!owned.insert(t)) {
        // The runtime is shutting down: the task never runs; join reports it cancelled.
        t->drop_callable();
        t->outcome_ = outcome::cancelled;
        t->state_.set_complete_unstarted();
        t->release();
        return;
    }
    const bool blocking_job = t->blocking_;
    if (cfg_.on_task_spawn || blocking_job) [[unlikely]] {
        // Both may throw (the hook; the pool when it cannot start a thread), and the task is
        // already owned and referenced: undo both, or shutdown would wait for it forever.
        try {
            if (cfg_.on_task_spawn) cfg_.on_task_spawn(describe(t));
            if (blocking_job) blocking.spawn(t);
        } catch (...) {
            unsubmit(t);
            throw;
        }
    }
    if (here) {
        worker::bump(here->stats.spawned);
    } else {
        spawned_.n.fetch_add(1, std::memory_order_relaxed);
    }
    if (blocking_job) return;  // the pool has it (and may have finished it already)
    mark_ready(t);
    if (t->pinned_) {
        t->worker_ = here;
        here->schedule_pinned(t);
        return;
    }
    if (here) {
        // Multi-thread: the LIFO slot, as Tokio does. A chain of spawns (each task spawning the
        // next) then stays on one worker, hot; through the ring every new task could be stolen
        // and the chain bounced between the workers, each steal waking the other one
        // (chained_spawn 150 -> 78 ns). current_thread keeps spawn order (no thief to avoid).
        here->schedule_local(t, cfg_.multi_thread);
        return;
    }
    inject.push(t);
    notify_parked();
}

void scheduler::unsubmit(task_header* t) noexcept {
    // safety: the task was never queued (its `scheduled` bit, set since construction, made
    // every wake and abort meanwhile a no-op), so nothing else refers to it but the caller's
    // reference and ours; the caller releases its own when the spawn fails. forget() also
    // wakes a shutdown that began meanwhile and waits for this very task.
    forget(t);
}

void scheduler::schedule(task_header* t, bool lifo) {
    mark_ready(t);
    thread_context& ctx = this_thread_context();
    if (ctx.w && &ctx.w->sched() == this) {
        if (t->pinned_) {
            t->worker_->schedule_pinned(t);
        } else {
            // A task woken by a task that runs on another worker than its own last one: the
            // two share something (a lock, a channel), and a steal split them. The wakee
            // moves here (the waker's worker); its last worker holds off stealing it back
            // (unless that worker's steals pay: worker::hold_steals()).
            // safety: worker_ was last written when t last ran, before the park whose state
            // transition this wake's CAS read (acquire), so the read does not race.
            worker* last = t->worker_;
            if (last != nullptr && last != ctx.w && ctx.w->in_task()) last->hold_steals();
            // A worker looking for work (idle_state's searchers; one spins while its steals
            // pay) would find the task in the ring now, while in the LIFO slot, which is never
            // stolen, it waits for whatever the waker does next: in a fan-out, the producer a
            // consumer's receive freed waited for that consumer's whole job while the other
            // worker spun. A searcher is awake already, so this costs no wake-up; without one,
            // the slot keeps a message's receiver hot on this worker.
            // Ordering: a hint. A searcher that stops meanwhile leaves the task in the ring,
            // which this worker reaches after the waker (and a parked peer is notified);
            // one that starts meanwhile leaves it in the slot, as before.
            if (lifo && idle_state.num_searching() != 0) lifo = false;
            ctx.w->schedule_local(t, lifo);
        }
        return;
    }
    // From another thread (an Asio handler on a foreign io_context, a plain thread, the
    // blocking pool). The wake's CAS on the state word happened before push_from_outside
    // counts it, while the task was not complete, so the task still counts as alive and
    // shutdown cannot have got past its wait for live tasks without this wake's entry being
    // the one that runs it. Refused, the task is one that a timed-out shutdown leaked (it
    // never runs again): the wake is a no-op.
    (void)push_from_outside(t);
}

bool scheduler::push_from_outside(task_header* t) {
    // This push may race the runtime's shutdown. It is counted while it touches the queues
    // and the shards, and shutdown waits for the count to drain before it lets the workers,
    // their io_contexts and the queues' last drain go (wait_for_foreign_wakes).
    // Ordering: seq_cst increment, then the stopping_ read; shutdown stores stopping_ and
    // then reads the count (seq_cst both): one of the two sees the other, so either this
    // push sees stopping_ and queues nothing, or shutdown waits until its entry is queued
    // (and drains it after the workers are joined).
    foreign_wakes_.fetch_add(1, std::memory_order_seq_cst);
    if (stopping_.load(std::memory_order_seq_cst)) {
        foreign_wakes_.fetch_sub(1, std::memory_order_release);
        return false;
    }
    if (t->pinned_) {
        t->worker_->schedule_pinned(t);
    } else {
        inject.push(t);
        notify_parked();
    }
    foreign_wakes_.fetch_sub(1, std::memory_order_release);
    return true;
}

void scheduler::submit_handler(task_header* t, bool continuation) {
    t->sched_ = this;
    thread_context& ctx = this_thread_context();
    if (ctx.w && &ctx.w->sched() == this) {
        // A worker of this runtime: it has not been joined yet, and its queues are drained
        // after it is. A handler posted once the runtime stops is not run, as an io_context
        // stopped for good runs nothing more.
        if (is_stopping()) {
            t->release();
            return;
        }
        ctx.w->schedule_local(t, continuation);
        return;
    }
    if (!push_from_outside(t)) {
        t->release();  // like an io_context after shutdown: destroyed, never invoked
    }
}

void scheduler::wait_for_foreign_wakes() noexcept {
    // Each wake in flight is a few pointer updates and maybe a post to a shard: short.
    // Ordering: seq_cst, so that this read and push_from_outside's read of stopping_ are in
    // the single total order with both seq_cst writes before them (an acquire load is not,
    // and a weaker machine could let both sides miss the other); it is also acquire, pairing
    // with the push's release decrement, so the push's writes to the queues and shards
    // happen before they are torn down.
    while (foreign_wakes_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
}

void scheduler::notify_parked() {
    // Every producer path calls this after publishing its work (ring push or overflow, inject
    // push, yield, timer wakes). Ordering: worker_to_notify issues the seq_cst fence between
    // that publication and its read of the idle state; it pairs with the fence a parking
    // worker issues after registering as a sleeper (idle.hpp explains why both are needed).
    if (auto i = idle_state.worker_to_notify()) workers_[*i]->unpark();
}

void scheduler::finish(task_header* t) {
    complete(t);
    forget(t);
}

void scheduler::complete(task_header* t) {
    // task_local values a child inherited live in locals_: their destructors are the task's.
    t->locals_.reset();
    // Nobody will take the result: it dies before `complete`, so a destructor that suspends
    // parks a task that is still running. A handle that lets go after `complete` is set drops
    // the result itself (detach_task); the transition's CAS decides which of the two sees the
    // other, so exactly one of them drops it.
    const task_state_word::snapshot s = t->state_.transition_to_complete([t] { t->drop_result(); });
    if (s.has_join_waker()) {
        waker w = std::move(t->join_waker_);
        if (task_header* joiner = w.task()) {
            // Behind the ready tasks, not in the LIFO slot: a joiner usually waits for several
            // children in turn (join_all, skynet); run now it would only park again on the
            // next one. Queued, it finds the siblings that were ready finished too.
            wake_task(joiner, false);
        } else {
            w.wake();
        }
    }
    if (t->outcome_ == outcome::exception && !s.has_join_interest()) report_unhandled(t);
    if (cfg_.on_task_terminate) {
        // A throwing hook must not unwind into whatever completes the task (the worker loop,
        // or the task's own fiber exit).
        try {
            cfg_.on_task_terminate(describe(t));
        } catch (...) {
            fmt::print(stderr, "weft: the on_task_terminate hook threw for task {}: {}; ignored\n",
                       t->id_, describe_exception(std::current_exception()));
            std::fflush(stderr);
        }
    }
}

void scheduler::forget(task_header* t) {
    owned.remove(t);
    if (owned.is_closed() && owned.alive() == 0) {
        { std::lock_guard lock(shutdown_mu_); }
        all_done_cv_.notify_all();
        if (!cfg_.multi_thread) workers_[0]->unpark();  // its driver re-checks alive()
    }
    t->release();
}

void scheduler::report_unhandled(task_header* t) {
    auto policy = cfg_.unhandled;
    if (policy == unhandled_exception_policy::ignore) return;
    std::string name = t->name_.empty() ? std::string() : fmt::format(" '{}'", t->name_);
    fmt::print(stderr,
               "weft: task {}{} (spawned at {}:{}) ended with an exception nobody joined: {}\n",
               t->id_, name, t->spawned_at_.file_name(), t->spawned_at_.line(),
               describe_exception(t->exception_));
    std::fflush(stderr);
    if (policy == unhandled_exception_policy::terminate) std::terminate();
    if (policy == unhandled_exception_policy::shutdown_runtime) {
        {
            std::lock_guard lock(shutdown_mu_);
            if (!shutdown_exception_) shutdown_exception_ = t->exception_;
        }
        // Cancel everything; block_on sees its task cancelled and rethrows the exception.
        owned.for_each([](task_header* x) { abort_task(x); });
    }
}

std::exception_ptr scheduler::shutdown_exception() {
    std::lock_guard lock(shutdown_mu_);
    return shutdown_exception_;
}

void scheduler::block_on(task_header* t) {
    thread_context& ctx = this_thread_context();
    if (ctx.sched) {
        throw std::logic_error(
            "weft: block_on called on a runtime thread (a task, a worker or the blocking "
            "pool) would block that thread; spawn a task and join it instead");
    }
    submit(t, spawn_options{});
    if (cfg_.multi_thread) {
        join_wait(t, std::source_location::current());
        return;
    }
    std::unique_lock lock(driver_mu_);
    workers_[0]->run_until([t] { return t->is_complete(); });
}

void scheduler::shutdown(std::chrono::nanoseconds timeout) {
    {
        std::lock_guard lock(shutdown_mu_);
        if (shut_down_) return;
        shut_down_ = true;
    }
    auto now = std::chrono::steady_clock::now();
    auto deadline = timeout >= std::chrono::steady_clock::time_point::max() - now
                        ? std::chrono::steady_clock::time_point::max()
                        : now + timeout;
    owned.close_and_for_each([](task_header* t) { abort_task(t); });
    if (cfg_.multi_thread) {
        std::unique_lock lock(shutdown_mu_);
        all_done_cv_.wait_until(lock, deadline, [this] { return owned.alive() == 0; });
    } else {
        std::unique_lock lock(driver_mu_);
        worker& w = *workers_[0];
        std::optional<boost::asio::steady_timer> wake_at_deadline;
        if (deadline != std::chrono::steady_clock::time_point::max()) {
            wake_at_deadline.emplace(w.io(), deadline);
            wake_at_deadline->async_wait([](const boost::system::error_code&) {});
        }
        w.run_until(
            [&] { return owned.alive() == 0 || std::chrono::steady_clock::now() >= deadline; });
    }
    blocking.shutdown(deadline);
    if (monitor_.joinable()) {
        {
            std::lock_guard lock(monitor_mu_);
            monitor_stop_ = true;
        }
        monitor_cv_.notify_all();
        monitor_.join();
    }
    stopping_.store(true, std::memory_order_seq_cst);
    wait_for_foreign_wakes();
    for (auto& w : workers_) w->unpark();
    for (auto& th : threads_) th.join();
    threads_.clear();
    drop_queued_handlers();
    if (std::size_t left = owned.alive(); left > 0) {
        fmt::print(stderr,
                   "weft: shutdown timed out with {} task(s) still running; they are leaked, "
                   "not freed (see runtime::dump() before shutdown to find them)\n",
                   left);
        // A leaked task's wakers may still fire (a socket handler, a plain thread), and a
        // wake reads the task's scheduler: the scheduler is kept too, stopped, so that such
        // a wake finds stopping_ set and does nothing. Kept reachable (not a cycle) so leak
        // checkers see it as intended.
        keep_forever(shared_from_this());
    }
}

void scheduler::keep_forever(std::shared_ptr<scheduler> s) {
    static auto* kept = new std::vector<std::shared_ptr<scheduler>>;  // never destroyed
    static std::mutex mu;
    std::lock_guard lock(mu);
    kept->push_back(std::move(s));
}

void scheduler::drop_queued_handlers() {
    // Handlers still queued are destroyed without being invoked, as an io_context does when
    // it is destroyed. Fiber tasks still queued here were leaked by a timed-out shutdown.
    auto drop = [](task_header* t) {
        if (t->inline_) t->release();
    };
    for (auto& w : workers_) w->drain_queues(drop);
    while (task_header* t = inject.pop()) drop(t);
}

void report_handler_exception(std::exception_ptr e) noexcept {
    scheduler* s = this_thread_context().sched;
    std::string what;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        what = ex.what();
    } catch (...) {
        what = "an exception not derived from std::exception";
    }
    auto policy = s ? s->config().unhandled : unhandled_exception_policy::log;
    if (policy == unhandled_exception_policy::ignore) return;
    fmt::print(stderr, "weft: an Asio handler running on a worker threw: {}\n", what);
    std::fflush(stderr);
    if (policy == unhandled_exception_policy::terminate) std::terminate();
}

runtime_metrics scheduler::metrics() const {
    runtime_metrics m;
    m.workers = workers_.size();
    m.alive_tasks = owned.alive();
    m.global_queue_depth = inject.len();
    m.blocking_threads = blocking.threads();
    m.idle_blocking_threads = blocking.idle_threads();
    m.spawned_tasks = spawned_.n.load(std::memory_order_relaxed);
    m.latency_histograms = cfg_.latency_histograms;
    for (const auto& w : workers_)
        m.spawned_tasks += w->stats.spawned.load(std::memory_order_relaxed);
    for (auto& w : workers_) {
        worker_metrics wm;
        wm.polls = w->stats.polls.load(std::memory_order_relaxed);
        wm.steals = w->stats.steals.load(std::memory_order_relaxed);
        wm.steal_operations = w->stats.steal_operations.load(std::memory_order_relaxed);
        wm.parks = w->stats.parks.load(std::memory_order_relaxed);
        wm.wakeups = w->stats.wakeups.load(std::memory_order_relaxed);
        wm.overflows = w->stats.overflows.load(std::memory_order_relaxed);
        wm.local_queue_depth = w->queue_depth();
        wm.busy = std::chrono::nanoseconds(w->stats.busy_ns.load(std::memory_order_relaxed));
        if (cfg_.latency_histograms) {
            wm.schedule_latency = w->latency.schedule_latency.snapshot();
            wm.run_time = w->latency.run_time.snapshot();
        }
        m.per_worker.push_back(wm);
    }
    return m;
}

task_info scheduler::describe(task_header* t) const {
    task_info i;
    i.id = t->id_;
    i.name = t->name_;
    i.spawned_at = t->spawned_at_;
    const task_state_word::snapshot s = t->state_.load();
    i.cancelled = s.is_cancelled() && !s.is_complete();
    if (s.is_complete()) {
        i.state = task_state::finished;
    } else if (s.is_running()) {
        // A yielded task stays marked running while it waits in a run queue.
        const char* w = t->waiting_on_.load(std::memory_order_relaxed);
        i.state =
            (w && std::string_view(w) == "yield") ? task_state::scheduled : task_state::running;
    } else if (s.is_scheduled()) {
        i.state = task_state::scheduled;
    } else {
        i.state = task_state::suspended;
    }
    if (i.state == task_state::suspended) {
        const char* w = t->waiting_on_.load(std::memory_order_relaxed);
        i.waiting_on = w ? w : "";
    }
    i.suspended_at = t->suspended_at_.load(std::memory_order_relaxed);
    return i;
}

void scheduler::monitor_main() {
    // Named, so that top -H and perf show whose CPU a report took (its first symbolisation
    // loads every module's debug information: docs/performance.md, "The timers row").
    ::pthread_setname_np(::pthread_self(), "weft-monitor");
    // Samples each worker every half threshold: the same task still running and no new
    // resumption since the last sample means it has held the worker all that time. The
    // first warning of such a stall comes once it passed the threshold, the next ones each
    // time it has doubled (threshold, 2x, 4x, ...): a stall of any length makes a few lines,
    // each with the task's stack then (a long stall may be stuck in a different place).
    const auto threshold = cfg_.blocking_warning_threshold;
    const auto interval =
        std::max<std::chrono::nanoseconds>(threshold / 2, std::chrono::milliseconds(5));
    struct sample {
        task_id id = 0;
        std::uint64_t polls = 0;
        // When this (task, resumption) pair was first seen: the stall's length is measured on
        // the clock, since a report (its stack read and symbolised) may take longer than an
        // interval.
        std::chrono::steady_clock::time_point since{};
        std::chrono::nanoseconds next_report{0};
        unsigned reports = 0;
    };
    std::vector<sample> last(workers_.size());
    std::unique_lock lock(monitor_mu_);
    while (!monitor_cv_.wait_for(lock, interval, [this] { return monitor_stop_; })) {
        const auto now = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < workers_.size(); ++i) {
            worker& w = *workers_[i];
            task_id id = w.running_id.load(std::memory_order_relaxed);
            std::uint64_t polls = w.stats.polls.load(std::memory_order_relaxed);
            sample& s = last[i];
            if (id != 0 && id == s.id && polls == s.polls) {
                // Held at least since the sample that first saw it. Tasks queued behind the
                // holder are stealable; a parked peer that heard of none (a notify that never
                // came: the lost_notify fault point stands in for one in fairness_test) is told
                // now, before a report that may take a while, so they wait one interval or so.
                // (queue_depth reads the ring's indices with acquire loads, from any thread; a
                // push still on its way is seen at the next sample.)
                if (workers_.size() > 1 && w.queue_depth() != 0) notify_parked();
                const std::chrono::nanoseconds held = now - s.since;
                if (held >= s.next_report) {
                    bool first = s.reports++ == 0;
                    s.next_report = held * 2;
                    lock.unlock();
                    report_blocked(i, id, held, first);
                    lock.lock();
                }
            } else {
                s = sample{id, polls, now, threshold, 0};
            }
        }
    }
}

void scheduler::report_blocked(std::size_t worker_index, task_id id, std::chrono::nanoseconds held,
                               bool first) {
    // The stack first, while the task most likely still holds the worker: the handler checks
    // that it does and answers with nothing otherwise.
    std::vector<void*> pcs;
    if (stall_signal_ != 0) {
        pcs = workers_[worker_index]->stall.request(stall_signal_, id,
                                                    std::chrono::milliseconds(100));
    }
    std::optional<task_info> info;
    owned.find(id, [&](task_header* t) { info = describe(t); });
    if (!info) return;  // it finished meanwhile
    std::string name = info->name.empty() ? std::string() : fmt::format(" '{}'", info->name);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(held).count();
    std::string text;
    if (first) {
        std::string resumed =
            info->suspended_at.line() == 0
                ? std::string("since it started")
                : fmt::format("since it was resumed at {}:{}", info->suspended_at.file_name(),
                              info->suspended_at.line());
        text = fmt::format(
            "weft: warning: task {}{} (spawned at {}:{}) has held worker {} for {} ms without "
            "reaching a suspension point, {}. Blocking calls belong in weft::spawn_blocking or "
            "weft::offload.\n",
            id, name, info->spawned_at.file_name(), info->spawned_at.line(), worker_index, ms,
            resumed);
    } else {
        text = fmt::format("weft: warning: task {}{} (spawned at {}:{}) still holds worker {} "
                           "after {} ms.\n",
                           id, name, info->spawned_at.file_name(), info->spawned_at.line(),
                           worker_index, ms);
    }
    if (!pcs.empty()) {
        text += fmt::format("  its stack, innermost frame first:\n");
        symboliser sym;
        for (const std::string& f : sym.frames(pcs.data(), pcs.size(), true)) {
            text += "    ";
            text += f;
            text += '\n';
        }
    } else if (stall_signal_ != 0) {
        text += "  (no stack: the task moved on, or its thread did not answer the signal in "
                "100 ms)\n";
    }
    fmt::print(stderr, "{}", text);
    std::fflush(stderr);
}

std::vector<task_info> scheduler::dump(bool backtraces) const {
    std::vector<task_info> out;
    // Suspended tasks whose stacks are read, each with a reference so it outlives the read;
    // the reads happen after the walk, outside the owned-list locks (spin locks that every
    // spawn and completion takes).
    std::vector<task_header*> parked;
    const_cast<owned_tasks&>(owned).for_each([&](task_header* t) {
        task_info i = describe(t);
        if (i.state != task_state::suspended) i.suspended_at = {};
        if (backtraces && i.state == task_state::suspended) {
            t->add_ref();
            parked.push_back(t);
        }
        out.push_back(std::move(i));
    });
    std::sort(out.begin(), out.end(),
              [](const task_info& a, const task_info& b) { return a.id < b.id; });
    if (backtraces) dump_backtraces(parked, out);
    return out;
}

void scheduler::dump_backtraces(std::vector<task_header*>& parked,
                                std::vector<task_info>& out) const {
    std::sort(parked.begin(), parked.end(),
              [](const task_header* a, const task_header* b) { return a->id_ < b->id_; });
    struct raw {
        std::size_t n = 0;
        void* pcs[dump_backtrace_frames + 8];
        const char* missing = nullptr;
    };
    // Only the tasks that are read get a buffer: a runtime may have a million parked tasks.
    std::vector<raw> stacks(std::min(parked.size(), dump_backtrace_tasks));
    for (std::size_t k = 0; k < stacks.size(); ++k) {
        task_header* t = parked[k];
        raw& r = stacks[k];
        // safety: while borrowed the task is marked running, and a marked-running task is
        // resumed by nobody: wakes and aborts only set `notified`, and no queue holds it
        // (idle meant no queue entry). So its fiber stays parked at the context it saved,
        // which the borrow's acquire makes visible, and the read below has it to itself.
        if (!t->state_.try_borrow_parked()) {
            r.missing = "(no backtrace: woken while the dump ran)";
            continue;
        }
        fiber_stack stack{t->stack_base_, t->stack_len_, static_cast<stack_kind>(t->stack_kind_)};
        fiber_backtrace_result res =
            t->fiber_ctx_ && t->stack_base_
                ? capture_fiber_backtrace(t->fiber_ctx_, stack, r.pcs, std::size(r.pcs), r.n)
                : fiber_backtrace_result::unsupported;
        // A wake or abort that came during the read was held back (notified): the borrower
        // now owns the queue entry, as a worker does after a switch-out.
        if (t->state_.transition_to_idle()) const_cast<scheduler*>(this)->schedule(t, false);
        if (res == fiber_backtrace_result::no_room) {
            r.missing = "(no backtrace: too little of its stack is left to read it)";
        } else if (res == fiber_backtrace_result::unsupported) {
            r.missing = "(no backtrace: not supported on this platform)";
        }
        r.n = std::min(r.n, dump_backtrace_frames);
    }
    // Symbolised once every task is given back: the slow part holds nothing.
    symboliser sym;
    auto info = out.begin();
    for (std::size_t k = 0; k < parked.size(); ++k) {
        task_header* t = parked[k];
        while (info != out.end() && info->id != t->id_) ++info;
        if (info != out.end()) {
            if (k >= stacks.size()) {
                info->backtrace.emplace_back(
                    "(no backtrace: over the dump's limit of dump_backtrace_tasks)");
            } else if (stacks[k].missing) {
                info->backtrace.emplace_back(stacks[k].missing);
            } else {
                info->backtrace = sym.frames(stacks[k].pcs, stacks[k].n, false);
            }
        }
        t->release();
    }
}

}  // namespace weft::detail
