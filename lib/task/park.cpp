// Wakers, parking, cancellation points and the current task.
#include "task_ops.hpp"
#include "thread_parker.hpp"

#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"

#include <weft/detail/park.hpp>
#include <weft/task/this_task.hpp>

#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

namespace weft::detail {

thread_parker& thread_parker::current() {
    thread_local struct holder {
        thread_parker* p = new thread_parker;
        ~holder() { p->release(); }
    } h;
    return *h.p;
}

// ---- waker ----------------------------------------------------------------------------

// The low bit tags a wake_target; both pointees must leave it free.
static_assert(alignof(task_header) >= 2 && alignof(wake_target) >= 2,
              "waker tags wake_target pointers in the low bit");

waker::waker(task_header* t) noexcept
    : bits_(reinterpret_cast<std::uintptr_t>(t)) {
    t->add_ref();
}

waker::waker(wake_target* p) noexcept
    : bits_(reinterpret_cast<std::uintptr_t>(p) | 1U) {
    p->add_ref();
}

waker waker::clone() const noexcept {
    if (bits_ == 0) return {};
    if (bits_ & 1U) return waker(reinterpret_cast<wake_target*>(bits_ & ~std::uintptr_t{1}));
    return waker(reinterpret_cast<task_header*>(bits_));
}

void wake_task(task_header* t, bool lifo) noexcept {
    // safety: `schedule` means this wake took the one queue entry; a notified running task
    // is requeued by its worker's switch-out instead.
    if (t->state().transition_to_notified() == task_state_word::wake_action::schedule) {
        t->sched()->schedule(t, lifo);
    }
}

void waker::wake_by_ref() const noexcept {
    if (bits_ == 0) return;
    if (bits_ & 1U) {
        reinterpret_cast<wake_target*>(bits_ & ~std::uintptr_t{1})->unpark();
    } else {
        wake_task(reinterpret_cast<task_header*>(bits_));
    }
}

void waker::wake() noexcept {
    wake_by_ref();
    reset();
}

void waker::drop() noexcept {
    std::uintptr_t b = std::exchange(bits_, 0);
    if (b & 1U) {
        reinterpret_cast<wake_target*>(b & ~std::uintptr_t{1})->release();
    } else {
        reinterpret_cast<task_header*>(b)->release();
    }
}

// ---- the current context ----------------------------------------------------------------

task_header* current_task() noexcept {
    worker* w = this_thread_context().w;
    return w ? w->current() : nullptr;
}

bool on_worker_outside_task() noexcept {
    worker* w = this_thread_context().w;
    return w && !w->current();
}

void check_may_block(const char* operation) {
    if (on_worker_outside_task()) {
        throw std::logic_error(std::string("weft: ") + operation +
                               " would block a worker thread (called from a handler or an "
                               "asio::awaitable running on a worker, not from a task); use "
                               "its async_ form or weft::spawn a task");
    }
}

waker current_waker(const char* operation) {
    if (task_header* t = current_task()) return waker(t);
    check_may_block(operation);
    return waker(static_cast<wake_target*>(&thread_parker::current()));
}

void park(const char* what, std::source_location where) {
    if (task_header* t = current_task()) {
        // A select's inline branch suspends: its other branches start now, to run meanwhile.
        if (t->has_deferred_branches() && !start_deferred_branches(t)) return;
        t->note_waiting(what, where);
        // Shuffle mode: now and then a spurious wake-up (the task yields instead of parking),
        // which the park contract allows and every waiter must survive.
        worker::suspend(t, t->current_worker()->shuffle_coin() ? switch_reason::yield
                                                               : switch_reason::park);
        t->clear_waiting();
        return;
    }
    check_may_block(what);
    thread_parker::current().park();
}

namespace {
// The outermost fired scope of `t`: its owner reports the deadline (nested timeouts).
cancel_scope* outermost_fired(task_header* t) noexcept {
    cancel_scope* found = nullptr;
    for (cancel_scope* s = t->scopes(); s; s = s->outer) {
        if (s->fired.load(std::memory_order_acquire)) found = s;
    }
    return found;
}
}  // namespace

namespace {
// Whether `t` must be interrupted now. The common case (not aborted, no deadline scope)
// costs one load; the unwinding test, which reads the exception globals, comes last.
bool interruptible(task_header* t) noexcept {
    bool aborted = t->state().load().is_cancelled();
    if (!aborted && t->scopes() == nullptr) return false;
    if (!aborted && !outermost_fired(t)) return false;
    return !t->shielded() && std::uncaught_exceptions() == 0;
}

void throw_for(task_header* t) {
    if (t->state().load().is_cancelled()) throw task_cancelled{};
    throw scope_cancelled{outermost_fired(t)};
}
}  // namespace

bool cancellation_requested() noexcept {
    task_header* t = current_task();
    return t && interruptible(t);
}

bool abort_requested() noexcept {
    task_header* t = current_task();
    return t && t->state().load().is_cancelled() && interruptible(t);
}

void throw_if_cancelled() {
    task_header* t = current_task();
    if (t && interruptible(t)) throw_for(t);
}

void consume_budget(std::source_location where) {
    worker* w = this_thread_context().w;
    if (!w) return;
    task_header* t = w->current();
    if (!t) return;
    if (interruptible(t)) throw_for(t);  // throw_if_cancelled without a second TLS lookup
    if (w->consume_budget() || w->shuffle_coin()) yield_now(where);
}

}  // namespace weft::detail

namespace weft {

void yield_now(std::source_location where) {
    using namespace detail;
    task_header* t = current_task();
    if (!t) {
        check_may_block("weft::yield_now");
        std::this_thread::yield();
        return;
    }
    if (interruptible(t)) throw_for(t);
    // As in park: an inline select branch that yields lets its siblings start and run.
    if (!t->has_deferred_branches() || start_deferred_branches(t)) {
        t->note_waiting("yield", where);
        worker::suspend(t, switch_reason::yield);
        t->clear_waiting();
    }
    if (interruptible(t)) throw_for(t);
}

namespace this_task {

task_id id() noexcept {
    detail::task_header* t = detail::current_task();
    return t ? t->identity()->id() : 0;
}

bool is_cancelled() noexcept {
    detail::task_header* t = detail::current_task();
    return t && t->state().load().is_cancelled();
}

shield::shield() noexcept
    : task_(detail::current_task()) {
    if (task_) task_->enter_shield();
}

shield::~shield() {
    if (task_) task_->leave_shield();
}

}  // namespace this_task
}  // namespace weft
