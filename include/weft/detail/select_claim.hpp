// select_claim: how weft::select decides its race at the moment a branch consumes something.
// Not for users.
//
// In Tokio a select! branch wins when its future returns Ready, so a losing branch never took
// anything. weft's branches are fibers that run on their own, so two of them could each take
// a value in the same instant; the loser's value would then be destroyed when it is aborted.
// weft decides the race where the taking happens instead:
//
//   - Each select owns a select_race: `winner`, none until a branch claims it. A claim is
//     never released: once a branch holds it, every other branch of that select is refused
//     for ever.
//   - A select branch's task_header carries a claim_record {race, index}, written before the
//     task is submitted and never changed (join and scoped children carry none: claims stop
//     at a join, as a Tokio join of cancel-safe futures is not cancel-safe).
//   - A select nested in a branch of an outer select: the inner race's `outer` is the inner
//     select's owner task (the outer branch), so a claim walks upwards: claiming the inner
//     race and then the owner's own record, up to a select whose owner is not a branch. The
//     chain is cut (outer = null) when the inner select is called inside this_task::shield or
//     while unwinding: such a select must finish even though its owner may have lost.
//   - Whoever is about to hand a cancel-safe operation's result to a waiter (the granter
//     under the primitive's lock, or the waiter itself on its fast path) claims first for
//     the waiter's task and, if refused, leaves the value/permit/notification where it is.
//     A refused waiter is a loser: it stays parked, consumes nothing, and is aborted when the
//     winner ends (child_group::returned claims for the ending branch too).
//
// Invariants: a race's winner goes from none to one index once and never changes; a claim
// succeeds only if every level from the branch up to the top holds the claimer's index there.
// Inner claimed, outer refused leaves the inner race held by a branch that cannot win: harmless,
// because the inner select's owner lost the outer race and will be aborted, which aborts every
// inner branch (a shielded owner would not be: hence the cut above).
#pragma once

#include <atomic>
#include <cstddef>

namespace weft::detail {

class task_header;

/// The race of one select (lives in its child_group).
struct select_race {
    static constexpr std::size_t none = ~std::size_t{0};
    /// The branch index that claimed the race, or none.
    std::atomic<std::size_t> winner{none};
    /// The select's owner task when that task claims in an outer select (it is a branch of one,
    /// not shielded, not unwinding); null otherwise. Written before any branch is submitted.
    task_header* outer = nullptr;
};

/// What a select branch's task carries: which race it claims in, as which index.
struct claim_record {
    select_race* race = nullptr;
    std::size_t index = 0;
};

/// Claims `index`'s win in `race` and, through `race->outer`, every enclosing select. True
/// when the claimer holds every level (now or from an earlier claim of its own); false when
/// some level is held by another branch. Never blocks; any thread.
bool claim_race(select_race* race, std::size_t index) noexcept;

/// Claims for task `t` (a waiter's claimer). True at once (one load) when `t` is not a
/// select branch.
bool claim_select(task_header* t) noexcept;

/// The task that must claim for a consuming wait made now: the current task when it is a
/// select branch that is neither inside this_task::shield nor unwinding; null otherwise (a
/// shielded or unwinding loser must be granted unconditionally, or it would wait for ever).
task_header* current_claimer() noexcept;

/// The fast path of a consuming call: claims for the current task (true when it need not
/// claim). Call right before taking something that is available now.
bool claim_current() noexcept;

/// Where plain select starts its branches: a per-task turn, so that when several branches are
/// ready at once each gets to win in turn (Tokio randomises; a rotation costs less and is as
/// fair for a loop). 0 off a task.
std::size_t select_start(std::size_t branches) noexcept;

}  // namespace weft::detail
