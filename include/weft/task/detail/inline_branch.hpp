// inline_branch: a select's first branch running on its owner's own fiber. Not for users.
//
// A plain select of callables runs the branch it starts first inline, as a call on the
// calling task's fiber, and starts the others (each a fiber) only when that fiber first
// suspends (detail/select_claim.hpp, inline_select). A branch that wins without
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
//   - its inline_select is the task's innermost one; the select's other branches are started
//     when the fiber first suspends (start_deferred_branches), or never;
//   - once they are started, the task is pinned to the worker they are pinned to, so the
//     inline branch and its siblings interleave on one worker and never run in parallel
//     (what join and select promise their branches). The outermost started inline_branch
//     restores the task's own pinning when it ends.
// Only the task itself touches these fields, so none of them needs an atomic.
#pragma once

#include <weft/detail/assert.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/task_header.hpp>
#include <weft/task/detail/scope_push.hpp>

namespace weft::detail {

class inline_branch {
   public:
    /// `sel.claim` and `sel.start` are set; the rest is ours.
    inline_branch(task_header* t, cancel_scope& cs, inline_select& sel) noexcept
        : t_(t),
          scope_(t, cs),
          sel_(&sel),
          was_pinned_(t->pinned_) {
        sel.outer = t->inline_select_;
        t->inline_select_ = &sel;
    }
    inline_branch(const inline_branch&) = delete;
    inline_branch& operator=(const inline_branch&) = delete;
    ~inline_branch() { end(); }

    /// The branch reported its end: the task claims, is cancelled and suspends as before.
    /// Idempotent.
    void end() noexcept {
        if (!t_) return;
        WEFT_INVARIANT(t_->inline_select_ == sel_, "inline selects end innermost first");
        scope_.pop();
        t_->inline_select_ = sel_->outer;
        // An enclosing select whose branches were started (with ours, or before we began)
        // still runs beside them: it unpins when it ends.
        if (sel_->started && !(sel_->outer && sel_->outer->started)) t_->pinned_ = was_pinned_;
        t_ = nullptr;
    }

   private:
    task_header* t_;
    scope_push scope_;
    inline_select* sel_;
    bool was_pinned_;
};

/// inline_select whose start calls `fn()` (a bool() noexcept: false when it could not start
/// the branches).
template <class Fn>
struct inline_select_of : inline_select {
    inline_select_of(const claim_record& rec, Fn& fn) noexcept
        : fn_(&fn) {
        claim = &rec;
        start = &call;
    }
    static bool call(inline_select& s) noexcept {
        return (*static_cast<inline_select_of&>(s).fn_)();
    }
    Fn* fn_;
};

}  // namespace weft::detail
