// timeout_scope: a cancel_scope on the task's scope list plus a detail::timer.
//
// The timer wakes a waker when it fires; the scope must be marked fired *before* the task
// looks (its cancellation points read cancel_scope::fired). So the timer wakes a small
// wake_target of ours whose unpark() marks the scope fired, then wakes the task. That
// target, the scope and the timer live together in one heap object (`state`) shared by the
// task and the waker: a firing that races with the task closing the scope touches only
// that object, never the task's stack. After close() the scope is off the list, so a late
// unpark marks a scope nobody reads, and wakes the task spuriously (harmless: every wait
// re-checks its condition).
#include <weft/detail/assert.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/timer.hpp>
#include <weft/detail/waker.hpp>
#include <weft/time/timeout.hpp>

#include <utility>

namespace weft::detail {

struct timeout_scope::state final : wake_target {
    explicit state(task_header* owner)
        : owner_waker(owner) {}
    void unpark() noexcept override {
        // The timer sets fired() before it wakes us.
        if (tm.fired()) scope.fired.store(true, std::memory_order_release);
        owner_waker.wake_by_ref();
    }
    cancel_scope scope;
    timer tm;
    waker owner_waker;
};

std::chrono::steady_clock::time_point deadline_after_ns(std::chrono::nanoseconds d) noexcept {
    if (d.count() < 0) d = std::chrono::nanoseconds(0);
    auto now = clock_now();
    if (std::chrono::steady_clock::time_point::max() - now < d) {
        return std::chrono::steady_clock::time_point::max();
    }
    return now + d;
}

timeout_scope::timeout_scope(std::chrono::steady_clock::time_point deadline)
    : task_(current_task()) {
    if (!task_) {
        check_may_block("weft::timeout");
        throw no_runtime(
            "weft::timeout: must be called from a task (the deadline cancels the wrapped call "
            "at its suspension points, which only a task has); use weft::spawn or "
            "runtime::block_on");
    }
    if (deadline == std::chrono::steady_clock::time_point::max()) return;  // never fires
    state_ = new state(task_);
    state_->scope.outer = task_->scopes_;
    task_->scopes_ = &state_->scope;
    try {
        state_->tm.arm(deadline, waker(static_cast<wake_target*>(state_)));
    } catch (...) {
        close();
        throw;
    }
}

void timeout_scope::close() noexcept {
    if (!state_) return;
    state_->tm.disarm();
    WEFT_INVARIANT(task_->scopes_ == &state_->scope, "timeouts are closed innermost first");
    task_->scopes_ = state_->scope.outer;
    std::exchange(state_, nullptr)->release();
}

bool timeout_scope::owns(const scope_cancelled& c) const noexcept {
    return state_ && c.scope == &state_->scope;
}

}  // namespace weft::detail
