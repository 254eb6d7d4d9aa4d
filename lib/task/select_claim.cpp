// select_claim: see include/weft/detail/select_claim.hpp for the protocol and its invariants.
#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/task_header.hpp>

#include <algorithm>
#include <bit>
#include <exception>
#include <mutex>
#include <utility>

namespace weft::detail {

bool claim_race(select_race* race, std::size_t index) noexcept {
    while (race) {
        std::size_t held = select_race::none;
        // Ordering: the race is decided by winner's single modification order; nothing is
        // published through it (the payload a winner takes is guarded by the primitive's own
        // lock, and the owner reads the decision after wait(), ordered by the group mutex).
        // acq_rel anyway so a claim read on another thread follows the claimer's earlier steps,
        // which keeps reasoning about the losers simple at no measurable cost (one CAS per
        // consumption inside a select).
        if (!race->winner.compare_exchange_strong(held, index, std::memory_order_acq_rel,
                                                  std::memory_order_acquire) &&
            held != index) {
            return false;
        }
        // Held by us (now or earlier): the enclosing select must be ours too. An earlier claim
        // of ours may have been refused further up, so the walk always goes to the top rather
        // than stopping at a level we already hold (stopping there would let a branch of an
        // inner select that lost the outer one consume on a second try).
        const claim_record* up = race->outer;
        if (!up) return true;
        // safety: `up` is the owner task's record; the owner outlives every branch and
        // operation of this race (its select waits for them), and the record was written
        // before the owner was submitted, so before this race existed.
        race = up->race;
        index = up->index;
    }
    return true;
}

/// A refused consumer parked in wait_reopened(), on its own stack, in its race's `reopen`
/// list (guarded by the race's mu).
struct reopen_waiter {
    waker w;
    reopen_waiter* next = nullptr;
    bool queued = false;
};

namespace {

// Wakes every refused consumer registered on `race`. The waker is moved out under the lock
// and woken after it is released; once unlinked, a node is not touched again (its waiter may
// already have returned and popped its frame).
void wake_reopened(select_race* race) noexcept {
    for (;;) {
        waker w;
        {
            std::lock_guard lk(race->mu);
            reopen_waiter* n = race->reopen;
            if (!n) return;
            race->reopen = n->next;
            n->queued = false;
            w = std::move(n->w);
        }
        w.wake();
    }
}

// Releases `race` (held for `index`) and, first, the levels above it held on the same
// behalf. False when `race` is not held for `index`: then nothing above is held for us.
bool release_level(select_race* race, std::size_t index) noexcept {
    // Ordering: acquire, so a level we read as ours was claimed by our own earlier steps (or
    // the steps of the inner branch on whose behalf it is ours), as in claim_race.
    if (race->winner.load(std::memory_order_acquire) != index) return false;
    if (const claim_record* up = race->outer) release_level(up->race, up->index);
    // safety: only a holder releases, and nobody else moves a level held for `index` (a claim
    // only moves none -> i), so the store cannot overwrite another branch's claim.
    // Ordering: seq_cst store then the lock in wake_reopened: a waiter that registers under
    // the lock before we take it is woken; one that registers after sees none (it reads
    // winner under the same lock, after our store).
    race->winner.store(select_race::none, std::memory_order_seq_cst);
    wake_reopened(race);
    return true;
}

// The race that refuses `t` now: the lowest level held for another index than `index` (set to
// ours at that level). Null when every level is free or ours (a claim would succeed).
select_race* refusing_race(const claim_record& c, std::size_t& index) noexcept {
    select_race* race = c.race;
    index = c.index;
    while (race) {
        std::size_t held = race->winner.load(std::memory_order_acquire);
        if (held != select_race::none && held != index) return race;
        const claim_record* up = race->outer;
        if (!up) return nullptr;
        race = up->race;
        index = up->index;
    }
    return nullptr;
}

}  // namespace

void release_claims(const claim_record* c) noexcept {
    if (!c || !c->race) return;
    release_level(c->race, c->index);
}

void wait_reopened(const char* what, std::source_location where) {
    task_header* t = current_task();
    if (!t || !t->claim().race) return;
    for (;;) {
        throw_if_cancelled();
        std::size_t index = 0;
        select_race* race = refusing_race(t->claim(), index);
        if (!race) return;  // released meanwhile: retry
        reopen_waiter node;
        node.w = current_waker(what);
        {
            std::lock_guard lk(race->mu);
            // Re-checked under the lock: a release stores none before it takes the lock.
            std::size_t held = race->winner.load(std::memory_order_seq_cst);
            if (held == select_race::none || held == index) continue;
            node.next = race->reopen;
            race->reopen = &node;
            node.queued = true;
        }
        park(what, where);
        // Woken by the release, by the abort (abort_task wakes the task), or spuriously.
        std::lock_guard lk(race->mu);
        if (node.queued) {
            for (reopen_waiter** p = &race->reopen; *p; p = &(*p)->next) {
                if (*p == &node) {
                    *p = node.next;
                    break;
                }
            }
            node.queued = false;
        }
    }
}

const claim_record* current_claimer() noexcept {
    const claim_record* c = claimer_of_current();
    // Starting another consuming operation: what this branch took before is in user code now.
    release_claims(c);
    return c;
}

void begin_consuming() noexcept { release_claims(claimer_of_current()); }

const claim_record* claimer_of_current() noexcept {
    task_header* t = current_task();
    if (!t || !t->claim().race) return nullptr;
    // A shielded or unwinding branch cannot be interrupted, so it must not be refused: it
    // would wait for a grant that never comes.
    if (t->shielded() || std::uncaught_exceptions() != 0) return nullptr;
    return &t->claim();
}

bool claim_current() noexcept { return claim_select(current_claimer()); }

bool claim_for_try() noexcept { return claim_select(claimer_of_current()); }

std::size_t select_start(std::size_t branches) noexcept {
    task_header* t = current_task();
    if (!t || branches < 2) return 0;
    // A per-task counter, not a thread_local: a task's selects may run on several workers.
    return t->next_select_turn() % branches;
}

select_turn select_pick(task_header& t, std::uint32_t site, std::size_t branches) noexcept {
    if (branches < 2) return {};
    select_habit& h = t.habit();
    if (h.site != site) h = select_habit{.site = site};
    if (h.until_probe != 0 && h.last < branches) {
        --h.until_probe;
        return {h.last, false};
    }
    // A probe: the next branch in rotation other than the last winner (the turn moves by one
    // per call, so the second try differs from the first).
    std::size_t start = t.next_select_turn() % branches;
    if (start == h.last) start = t.next_select_turn() % branches;
    return {start, true};
}

void select_settle(task_header& t, std::uint32_t site, select_turn turn,
                   std::size_t winner) noexcept {
    select_habit& h = t.habit();
    // Another site (a select nested in a branch) took the habit meanwhile: this site starts
    // afresh next time, with probes.
    if (h.site != site || winner >= select_habit::no_winner) return;
    if (turn.probe) {
        constexpr std::uint8_t max_gap_log2 = std::countr_zero(max_probe_gap);
        // The probed branch won: branches are ready together, so they keep taking turns.
        // It lost (it parked and had to be unwound): probe half as often, down to the bound.
        h.gap = winner == turn.start ? 0 : std::min<std::uint8_t>(h.gap + 1, max_gap_log2);
        h.until_probe = static_cast<std::uint8_t>((1U << h.gap) - 1);
    }
    h.last = static_cast<std::uint16_t>(winner);
}

bool start_deferred_branches(task_header* t) noexcept {
    bool ok = true;
    // The siblings are pinned to this worker (spawn's branch_of); so is their owner until its
    // inline branch ends (inline_branch::end), or it could be stolen and run in parallel
    // with them. safety: the task is running, and a waker reads pinned_ only after the
    // task's switch-out (ordered by the state word), so this write needs no atomic.
    t->pinned_ = true;
    // Innermost first, up to the first one already started (those beyond it are started
    // too): an inner select's branch suspending suspends every enclosing inline branch.
    for (inline_select* d = t->inline_select_; d && !d->started; d = d->outer) {
        d->started = true;
        ok = d->start(*d) && ok;
    }
    return ok;
}

}  // namespace weft::detail
