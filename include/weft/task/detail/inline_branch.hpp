// inline_branch: a select's first branch running on its owner's own fiber. Not for users.
//
// A plain select of callables runs the branch it starts first inline, as a call on the
// calling task's fiber, and starts the others (each a fiber) only when that fiber first
// suspends (detail/select_claim.hpp, deferred_branches). A branch that wins without
// suspending, a receive from a channel that holds a value, costs neither a fiber nor an
// unwind of a loser that never started.
//
// Invariants, while an inline_branch lives (from before the branch is called until after it
// reported its end to the select's child_group):
//   - the task's claim() is the branch's record {race, index}, so its consuming operations
//     claim in the select as a branch fiber's do (through every enclosing select: the race's
//     outer level is the record the task claimed with before);
//   - its cancel_scope is the task's innermost scope; the child_group fires it when another
//     branch decides the select, so the branch throws scope_cancelled at its next
//     cancellation point, as a branch fiber throws task_cancelled when it is aborted;
//   - the select's unstarted branches are at the head of the task's deferred list until the
//     fiber suspends (start_deferred_branches empties the whole list) or the branch ends;
//   - once they are started, the task is pinned to the worker they are pinned to, so the
//     inline branch and its siblings interleave on one worker and never run in parallel
//     (what join and select promise their branches). The outermost started inline_branch
//     restores the task's own pinning when it ends.
// Only the task itself touches these fields, so none of them needs an atomic.
#pragma once

#include <weft/detail/assert.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/task_header.hpp>

namespace weft::detail {

class inline_branch {
   public:
    inline_branch(task_header* t, cancel_scope& cs, const claim_record& rec,
                  deferred_branches& rest) noexcept
        : t_(t),
          cs_(&cs),
          rest_(&rest),
          outer_claim_(t->inline_claim_),
          was_pinned_(t->pinned_) {
        cs.outer = t->scopes_;
        t->scopes_ = &cs;
        t->inline_claim_ = &rec;
        rest.outer = t->deferred_;
        t->deferred_ = &rest;
    }
    inline_branch(const inline_branch&) = delete;
    inline_branch& operator=(const inline_branch&) = delete;
    ~inline_branch() { end(); }

    /// The branch reported its end: the task claims, is cancelled and suspends as before.
    /// Idempotent.
    void end() noexcept {
        if (!t_) return;
        WEFT_INVARIANT(t_->scopes_ == cs_, "cancel scopes are popped innermost first");
        t_->scopes_ = cs_->outer;
        t_->inline_claim_ = outer_claim_;
        // Started: the whole list was started and emptied with it (an inner select pushed
        // after that has ended before us). Not started: we are still its head.
        WEFT_INVARIANT(rest_->started || t_->deferred_ == rest_,
                       "inline selects end innermost first");
        t_->deferred_ = rest_->started ? nullptr : rest_->outer;
        // Started with an enclosing select's (`outer` was unstarted, so it was started at the
        // same moment and is still running): that one unpins.
        if (rest_->started && !rest_->outer) t_->pinned_ = was_pinned_;
        t_ = nullptr;
    }

   private:
    task_header* t_;
    cancel_scope* cs_;
    deferred_branches* rest_;
    const claim_record* outer_claim_;
    bool was_pinned_;
};

/// deferred_branches calling `fn()` (a bool() noexcept: false when it could not start them).
template <class Fn>
struct deferred_call : deferred_branches {
    explicit deferred_call(Fn& fn) noexcept
        : fn_(&fn) {
        start = &call;
    }
    static bool call(deferred_branches& d) noexcept {
        return (*static_cast<deferred_call&>(d).fn_)();
    }
    Fn* fn_;
};

}  // namespace weft::detail
