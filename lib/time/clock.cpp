// The runtime clock and timer firing across workers. See detail/timer.hpp and
// time/clock.hpp for the contract.
#include "../scheduler/scheduler.hpp"
#include "../scheduler/shuffle.hpp"
#include "../scheduler/thread_context.hpp"

#include <algorithm>
#include <vector>

namespace weft::detail {
namespace {
std::int64_t steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
std::chrono::steady_clock::time_point from_ns(std::int64_t ns) noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(ns)));
}
}  // namespace

std::chrono::steady_clock::time_point scheduler::now() const noexcept {
    if (paused_.load(std::memory_order_acquire)) {
        return from_ns(virtual_ns_.load(std::memory_order_acquire));
    }
    std::int64_t off = offset_ns_.load(std::memory_order_relaxed);
    auto real = std::chrono::steady_clock::now();
    return off == 0 ? real : real + std::chrono::nanoseconds(off);
}

void scheduler::pause_clock() {
    if (paused_.load(std::memory_order_acquire)) return;
    virtual_ns_.store(steady_ns() + offset_ns_.load(std::memory_order_relaxed),
                      std::memory_order_release);
    paused_.store(true, std::memory_order_release);
}

void scheduler::resume_clock() {
    if (!paused_.load(std::memory_order_acquire)) return;
    offset_ns_.store(virtual_ns_.load(std::memory_order_acquire) - steady_ns(),
                     std::memory_order_relaxed);
    paused_.store(false, std::memory_order_release);
    for (auto& w : workers_) w->unpark();  // parked workers recompute their timeouts
}

void scheduler::advance_clock(std::chrono::nanoseconds d) {
    virtual_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
    fire_due_timers();
}

std::int64_t scheduler::next_timer_ns() const noexcept {
    std::int64_t next = timer_heap::none;
    for (auto& w : workers_) next = std::min(next, w->timers().next_ns());
    return next;
}

std::chrono::steady_clock::time_point scheduler::to_steady(std::int64_t clock_ns) const noexcept {
    return from_ns(clock_ns - offset_ns_.load(std::memory_order_relaxed));
}

std::size_t scheduler::fire_due_timers(std::int64_t foreign_grace_ns) {
    auto t = now();
    std::int64_t now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    if (next_timer_ns() > now_ns) return 0;
    thread_context& ctx = this_thread_context();
    worker* self = (ctx.w && &ctx.w->sched() == this) ? ctx.w : nullptr;
    if (is_paused()) foreign_grace_ns = 0;  // virtual time: deadlines are exact, nobody lags
    thread_local std::vector<waker> due;    // reused across firings; a wake never fires timers
    for (auto& w : workers_) {
        std::int64_t limit = w.get() == self ? now_ns : now_ns - foreign_grace_ns;
        if (w->timers().next_ns() <= limit) w->timers().take_due(t, due);
    }
    std::size_t n = due.size();
    if (self) self->set_firing_timers(true);
    for (waker& w : due) w.wake();
    if (self) self->set_firing_timers(false);
    due.clear();
    if (self && n > 0) notify_parked();  // let an idle worker share the woken tasks
    return n;
}

void scheduler::on_timer_armed(const worker* self, std::int64_t deadline_ns) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with worker::park's
    for (auto& w : workers_) {
        if (w.get() != self) w->wake_if_sleeping_past(deadline_ns);
    }
}

scheduler::auto_advance scheduler::try_auto_advance(std::size_t self) {
    if (!is_paused()) return {};
    // Jump only when no task anywhere is runnable. A parked worker's LIFO slot, timer-ready
    // list, pinned list and hand-off are empty: it parks only after finding them empty, and
    // while parked it fills them only by firing timers, which a paused clock does only here
    // (worker::park), under advance_mu_. Runnable work elsewhere is in the global queue, a
    // pinned inbox, a ring or a blocking job (a finished job woke its joiner before it
    // stopped counting as busy, so seeing it idle means seeing that wake's queue entry).
    //
    // Those reads are not one atomic look, so they are bracketed by two snapshots of the idle
    // state: equal, with every worker parked, they say no worker ran anything in between (a
    // worker that unparked had to park again, which moves the generation). Without the
    // bracket a worker could, between the blocking-pool read and the parked count, run its
    // task, start the next blocking job and park: both reads said "idle" and the clock
    // jumped an hour across that job (the paused_test case, under TSan).
    std::lock_guard lock(advance_mu_);
    std::size_t before = idle_state.snapshot();
    if (!idle::all_parked(before)) return {};
    if (blocking.busy() != 0) return {};
    if (shuffle::enabled()) shuffle::stall();  // widen the window the bracket must close
    if (!inject.is_empty()) return {};
    for (auto& w : workers_) {
        if (w->has_pinned_pending() || !w->queue().is_empty()) return {};
    }
    if (idle_state.snapshot() != before) return {};
    std::int64_t next = next_timer_ns();
    if (next == timer_heap::none) return {};
    std::int64_t cur = virtual_ns_.load(std::memory_order_acquire);
    if (next > cur) virtual_ns_.store(next, std::memory_order_release);
    if (fire_due_timers() == 0) return {};
    // The woken tasks may be on this worker's private lists (it fired them), where the next
    // advancer's look cannot see them: count it as unparked before the lock goes, so that
    // look fails on the parked count instead.
    return {.fired = true, .was_sleeper = idle_state.unpark_by_id(self)};
}

}  // namespace weft::detail
