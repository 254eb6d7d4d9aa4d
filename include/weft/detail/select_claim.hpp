// select_claim: how weft::select decides its race at the moment a branch consumes something.
// Not for users.
//
// In Tokio a select! branch wins when its future returns Ready, so a losing branch never took
// anything. weft's branches are fibers that run on their own, so two of them could each take
// a value in the same instant; the loser's value would then be destroyed when it is aborted.
// weft decides the race where the taking happens instead:
//
//   - Each select owns a select_race: `winner`, none until a branch claims it.
//   - A select branch's task_header carries a claim_record {race, index}, written before the
//     task is submitted and never changed (join and scoped children carry none: claims stop
//     at a join, as a Tokio join of cancel-safe futures is not cancel-safe). A select over
//     operations (detail/select_op.hpp) has no branch tasks: each of its operations carries
//     a record {race, index} of its own, on the caller's stack, and its waiter claims with it.
//   - A select nested in a branch of an outer select: the inner race's `outer` is the claim
//     record of the inner select's owner task (the outer branch), so a claim walks upwards:
//     claiming the inner race and then the owner's own record, up to a select whose owner is
//     not a branch. The chain is cut (outer = null) when the inner select is called inside
//     this_task::shield or while unwinding: such a select must finish even though its owner
//     may have lost.
//   - Whoever is about to hand a cancel-safe operation's result to a waiter (the granter
//     under the primitive's lock, or the waiter itself on its fast path) claims first with
//     the waiter's record and, if refused, leaves the value/permit/notification where it is.
//   - A branch that returns claims too (child_group::returned); holding the claim, it wins.
//
// Release (a loop branch gives the race back). In Tokio a loop future that took a value and
// awaits again owns that value; dropping it then is the user's concern. So a branch that
// starts another consuming operation (current_claimer(), called at the start of each) has
// consumed what it took into user code: it releases every level held for it (release_claims:
// its own race if it holds it, and the enclosing levels its owners hold on its behalf), top
// level first, so that a sibling that claims the lower level after the release never finds
// an upper level still marked for the releaser. The select owner itself (an outer branch)
// releases the level an inner select's branch claimed for it when it starts its next
// consuming op. Only the holder releases: a level held for index i can be released only by
// the task that holds it or, for an owner's level, by the inner branch holding the level
// below (the owner is blocked in its select meanwhile).
//
// Refusal. A refused consumer took nothing. It waits in wait_reopened() until the refusing
// race is released (then it retries its whole operation) or its task is aborted (the holder
// returned and won; the group aborts the losers). A granter that refuses a queued waiter
// dequeues it and grants it wait_status::refused (what was to be granted goes to the next
// waiter or stays in the primitive); the waiter then does the same. An ending branch refused
// in child_group's claim waits likewise, on its own fiber, before it reports.
//
// Invariants: a claim succeeds only if every level from the branch up to the top holds the
// claimer's index there. winner moves none -> i by a claim, i -> none only by a release for
// i; a release wakes every waiter registered on that race (registration and the winner check
// happen under the race's lock, the release stores none before taking it: no lost wake).
// Inner claimed, outer refused leaves the inner race held by a branch that cannot win yet: it
// waits for the outer reopen (or its abort) and keeps the inner level, which its next
// operation releases.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <source_location>

namespace weft::detail {

class task_header;
struct reopen_waiter;

struct claim_record;

/// The race of one select (lives in its child_group, or on the frame of a select over
/// operations).
struct select_race {
    static constexpr std::size_t none = ~std::size_t{0};
    /// The branch index that holds the race, or none.
    std::atomic<std::size_t> winner{none};
    /// The claim record of the select's owner task when that task claims in an outer select
    /// (it is a branch of one, not shielded, not unwinding); null otherwise. Written before any
    /// branch is submitted (or any operation is started).
    const claim_record* outer = nullptr;
    /// Guards `reopen`: the refused consumers waiting for this race to be released.
    std::mutex mu;
    reopen_waiter* reopen = nullptr;
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

/// Claims for `c` (a waiter's claimer: a branch task's record, or a select operation's).
/// True at once when `c` is null (no select to claim).
inline bool claim_select(const claim_record* c) noexcept {
    return c == nullptr || claim_race(c->race, c->index);
}

/// Releases every level held for `c` (its own race if it holds it there, then the levels
/// its owners hold on its behalf), top level first, and wakes their refused waiters.
/// Called by the holder only. No-op when `c` is null or holds nothing.
void release_claims(const claim_record* c) noexcept;

/// The start of a consuming operation: the claim record it must claim with (the current
/// task's, when the task is a select branch that is neither inside this_task::shield nor
/// unwinding; null otherwise: a shielded or unwinding branch must be granted
/// unconditionally). A branch that holds its select from an earlier operation has moved on:
/// its claims are released here first (release_claims). Call once per operation, before its
/// first claim.
const claim_record* current_claimer() noexcept;

/// The first step of a consuming operation, before its cooperative-budget check: gives back
/// the claims of the current branch (release_claims), so that when the budget makes it yield,
/// a sibling refused while it held them can run and claim. Without it a loop branch whose
/// next value is always ready would yield holding its claim and re-claim at once after, and
/// a refused sibling (pinned to the same worker) would never get the race.
void begin_consuming() noexcept;

/// current_claimer() without the release: for a select's own construction (its owner's
/// record becomes the new race's outer level), which consumes nothing.
const claim_record* claimer_of_current() noexcept;

/// For an operation that takes without waiting (try_recv, try_lock, try_acquire,
/// try_join_next), once it has found something to take: true when it may take it (the
/// caller is not a select branch, or its branch holds its select's race or claims it now).
/// Unlike current_claimer(), it gives back nothing the branch holds: a branch that received
/// and then drains the rest with try_recv keeps the race it won. False: a sibling holds the
/// race, and the operation takes nothing (a loser that took and returned would have its
/// value destroyed with its abort). Never blocks; callable under a primitive's lock.
bool claim_for_try() noexcept;

/// The fast path of a consuming call: current_claimer() and claims for it (true when it need
/// not claim). Call right before taking something that is available now.
bool claim_current() noexcept;

/// A consuming operation of the current task was refused (a claim for it returned false, or
/// a granter ended its wait with wait_status::refused): it took nothing. Waits until the
/// race that refuses it is released, then returns: the caller retries its whole operation.
/// Throws task_cancelled / scope_cancelled when the task is cancelled meanwhile (the holder
/// returned and won, and the select aborts its losers). Returns at once when nothing
/// refuses the task any more.
void wait_reopened(const char* what, std::source_location where);

/// Where plain select over operations starts: a per-task turn, so that when several are
/// ready at once each gets to win in turn (Tokio randomises; a rotation costs less and is as
/// fair for a loop). 0 off a task.
std::size_t select_start(std::size_t branches) noexcept;

/// Where a plain select of callables starts, the branch it runs inline on its owner's fiber
/// (task/select.hpp). A branch started first that parks and then loses must be unwound by
/// exception, which costs more than the rest of the select together, so the start follows
/// the habit of the select's call site (`site`) in the current task: its last winner, which
/// in a loop is mostly the branch that is ready. Fairness comes from probes: a probe starts
/// at another branch (in rotation); a probe whose branch wins keeps probing on every call, so
/// branches that are all ready win in turn, and each probe whose branch loses doubles the
/// gap to the next one, up to max_probe_gap selects. So a branch that is ready is started
/// first within max_probe_gap * (branches - 1) selects of its site, however busy the others.
/// What select_pick remembers per task: the call site it last saw and that site's habit.
/// The site is kept as the low 32 bits of its address (a collision only mixes two sites'
/// habits; the header stays small, and spawn pays for every byte of it).
struct select_habit {
    static constexpr std::uint16_t no_winner = 0xffff;
    std::uint32_t site = 0;
    std::uint16_t last = no_winner;  // the last winner
    std::uint8_t gap = 0;            // log2 of the selects between two probes
    std::uint8_t until_probe = 0;    // selects left before the next probe
};
struct select_turn {
    std::size_t start = 0;
    bool probe = false;
};
inline constexpr std::size_t max_probe_gap = 64;
/// The habit's key for a call site (any address unique to it).
inline std::uint32_t select_site_key(const void* site) noexcept {
    return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(site));
}
/// Where task `t` (the calling task) starts a select of `branches` at `site`.
select_turn select_pick(task_header& t, std::uint32_t site, std::size_t branches) noexcept;
/// After the select decided: learns from `winner` (none: nothing decided).
void select_settle(task_header& t, std::uint32_t site, select_turn turn,
                   std::size_t winner) noexcept;

/// A select running its first branch inline on its owner's fiber (task/detail/
/// inline_branch.hpp), on the select's frame; the task keeps the innermost one. Its other
/// branches are started (with those of every enclosing inline select not started yet,
/// innermost first) the first time that fiber suspends (park, yield_now), so that they run
/// while it waits, and never if it wins without suspending. Once one is started, every one
/// enclosing it is too.
struct inline_select {
    /// The inline branch's claim record: the task claims with it while the branch runs.
    const claim_record* claim = nullptr;
    /// Starts the other branches. Never throws: false when some could not be started (the
    /// select has then fired its branch's cancel scope, to report the failure).
    bool (*start)(inline_select&) noexcept = nullptr;
    inline_select* outer = nullptr;  // the enclosing inline select of this task, if any
    bool started = false;
};

/// Starts the other branches of task `t`'s inline selects not started yet (see above); `t`
/// is the calling task. Called by park and yield_now when there are some. False when a
/// select could not start its branches: the caller returns without suspending (a spurious
/// wake-up, which every waiter survives), and the branch's next cancellation point reports
/// it.
bool start_deferred_branches(task_header* t) noexcept;

}  // namespace weft::detail
