// child_group: see include/weft/task/detail/child_group.hpp for the protocol.
#include <weft/detail/park.hpp>
#include <weft/task/abort_handle.hpp>
#include <weft/task/detail/child_group.hpp>
#include <weft/task/detail/completion.hpp>

#include <algorithm>
#include <mutex>

namespace weft::detail {

child_group::child_group(policy p, cancel_scope* scope)
    : policy_(p),
      scope_(scope),
      owner_(current_waker("weft::join/select/scoped")) {
    // A select made by a branch of an outer select claims through to the outer race, unless
    // it is made inside a shield or while unwinding (the claimer is null then): such a
    // select must be able to finish although its owner may have lost the outer race. Making
    // a select consumes nothing, so the owner keeps a claim it holds (no release here).
    if (p == policy::first_end) race_.outer = claimer_of_current();
}

child_group::~child_group() {
    bool alive;
    {
        std::lock_guard lock(mu_);
        alive = alive_ != 0 || !waited_;
    }
    if (alive) {
        // An exception left the owner before it waited (e.g. spawning a later branch
        // failed): the children may refer to the owner's frame, so they must end first.
        cancel_all();
        wait("join", std::source_location::current());
    }
    for (task_header* t : children_) t->release();
}

void child_group::reserve() noexcept {
    std::lock_guard lock(mu_);
    ++alive_;
}

void child_group::attach(task_header* t) {
    t->add_ref();
    std::lock_guard lock(mu_);
    children_.push_back(t);
    if (cancelling_) abort_task(t);
}

void child_group::discard(task_header* t) noexcept {
    {
        std::lock_guard lock(mu_);
        auto it = std::find(children_.begin(), children_.end(), t);
        if (it == children_.end()) return;
        children_.erase(it);
    }
    t->release();
}

void child_group::claim_to_end(std::size_t index) noexcept {
    if (policy_ != policy::first_end) return;
    // The ending branch's own fiber, before returned() takes mu_: while another branch holds
    // the claim (a loop branch between two operations), wait for its release and claim then,
    // or for this task's abort (the group was decided or cancelled): then returned() decides
    // nothing. Never throws: a cancellation ends the wait. An aborted branch does not claim
    // (returned() lets it decide only with a claim it took before, as ever).
    try {
        if (cancellation_requested()) return;
        while (!claim_race(&race_, index))
            wait_reopened("weft::select (ending branch)", std::source_location::current());
    } catch (...) {}
}

void child_group::returned(std::size_t index, std::exception_ptr e) noexcept {
    std::lock_guard lock(mu_);
    if (policy_ == policy::first_end) {
        // Only the claim holder decides. Once the group is cancelling (decided, or the owner
        // was cancelled), an ending branch may not take the claim any more; but a branch that
        // claimed earlier (it consumed something) still decides if nothing was decided, so the
        // owner returns what it consumed instead of dropping it.
        bool mine = cancelling_ ? race_.winner.load(std::memory_order_acquire) == index &&
                                      claim_race(&race_, index)
                                : claim_race(&race_, index);
        if (!mine || first_ != none) return;
        first_ = index;
        first_exception_ = std::move(e);
        cancel_all_locked();
        if (scope_ && index != inline_) {
            // The branch on the owner's fiber lost: cancelled at its next cancellation point.
            // Ordering: release, paired with the acquire in the task's cancellation check.
            scope_->fired.store(true, std::memory_order_release);
            owner_.wake_by_ref();
        }
        return;
    }
    if (cancelling_) return;  // the group was cancelled already: this ending decides nothing
    if (policy_ == policy::first_failure && !e) return;
    first_ = index;
    first_exception_ = std::move(e);
    cancel_all_locked();
    if (scope_) {
        // scoped: the owner's own function is cancelled too, at its next cancellation point.
        scope_->fired.store(true, std::memory_order_release);
        owner_.wake_by_ref();
    }
}

void child_group::destroyed() noexcept {
    std::lock_guard lock(mu_);
    // Waking under the lock: once it is released the owner may return and free the group.
    if (--alive_ == 0) owner_.wake_by_ref();
}

void child_group::cancel_all() noexcept {
    std::lock_guard lock(mu_);
    cancel_all_locked();
}

void child_group::cancel_all_locked() noexcept {
    if (cancelling_) return;
    cancelling_ = true;
    // A child deciding the group (select's winner, join's first failure) does not abort
    // itself: its function already ended, and its captures' destructors may still suspend.
    task_header* self = current_task();
    for (task_header* t : children_) {
        if (t != self) abort_task(t);
    }
}

void child_group::wait(const char* what, std::source_location where) {
    {
        std::unique_lock lock(mu_);
        while (alive_ != 0) {
            if (!cancelling_ && cancellation_requested()) cancel_all_locked();
            lock.unlock();
            park(what, where);
            lock.lock();
        }
        waited_ = true;
    }
    for (task_header* t : children_) await_completion(t);
}

void submit_child(child_group& g, task_header* t, spawn_options&& opts) {
    g.attach(t);
    try {
        submit(t, nullptr, std::move(opts));
    } catch (...) {
        g.discard(t);
        t->release();
        throw;
    }
}

}  // namespace weft::detail
