// detail::timer on the worker timer heaps, and the runtime clock (real or paused).
#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"
#include "timer_heap.hpp"

#include <weft/detail/park.hpp>
#include <weft/detail/timer.hpp>
#include <weft/error.hpp>
#include <weft/task/this_task.hpp>
#include <weft/time.hpp>

#include <stdexcept>

namespace weft {
namespace detail {

std::chrono::steady_clock::time_point clock_now() {
    scheduler* s = this_thread_context().sched;
    return s ? s->now() : std::chrono::steady_clock::now();
}

void timer::arm(time_point deadline, waker w) {
    disarm();
    fired_.store(false, std::memory_order_relaxed);
    worker* wk = this_thread_context().w;
    if (!wk) {
        throw no_runtime("weft: timers (sleep, timeout, interval) in a task need a runtime worker");
    }
    deadline_ = deadline;
    waker_ = std::move(w);
    heap_ = &wk->timers();
    heap_->insert(this);
    if (wk->sched().num_workers() > 1) {
        wk->sched().on_timer_armed(
            wk, std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch())
                    .count());
    }
}

void timer::disarm() noexcept {
    if (!heap_) return;
    // Fired: the firing thread took the timer out of the heap before publishing fired_, so
    // there is nothing to remove and no need to take the heap's lock (which a burst of firing
    // holds for a while).
    if (!fired()) heap_->remove(this);
    heap_ = nullptr;
}

}  // namespace detail

namespace time {
namespace {
detail::scheduler& current_scheduler(const char* fn) {
    detail::scheduler* s = detail::this_thread_context().sched;
    if (!s) {
        throw no_runtime(std::string("weft::time::") + fn +
                         ": not inside a weft runtime (call it from a task)");
    }
    return *s;
}
}  // namespace

std::chrono::steady_clock::time_point now() { return detail::clock_now(); }

void pause() { current_scheduler("pause").pause_clock(); }

void resume() { current_scheduler("resume").resume_clock(); }

}  // namespace time

namespace detail {
void advance_clock(std::chrono::nanoseconds d) {
    scheduler* s = this_thread_context().sched;
    if (!s)
        throw no_runtime("weft::time::advance: not inside a weft runtime (call it from a task)");
    if (!s->is_paused()) {
        throw std::logic_error("weft::time::advance: the clock is not paused (time::pause() or "
                               "builder::start_paused(true) first)");
    }
    if (d.count() < 0) throw std::invalid_argument("weft::time::advance: negative duration");
    s->advance_clock(d);
    // Let the tasks whose timers fired run before the caller goes on (as Tokio's advance).
    if (current_task()) weft::yield_now();
}
}  // namespace detail

}  // namespace weft
