// select_claim: see include/weft/detail/select_claim.hpp for the protocol and its invariants.
#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/task_header.hpp>

#include <exception>

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
        task_header* owner = race->outer;
        if (!owner) return true;
        // safety: `owner` outlives every branch of this race (its select waits for them), and
        // its claim_ was written before it was submitted, so before this branch existed.
        race = owner->claim_.race;
        index = owner->claim_.index;
    }
    return true;
}

bool claim_select(task_header* t) noexcept {
    if (!t || !t->claim_.race) return true;
    return claim_race(t->claim_.race, t->claim_.index);
}

task_header* current_claimer() noexcept {
    task_header* t = current_task();
    if (!t || !t->claim_.race) return nullptr;
    // A shielded or unwinding branch cannot be interrupted, so it must not be refused: it
    // would wait for a grant that never comes.
    if (t->shield_depth_ != 0 || std::uncaught_exceptions() != 0) return nullptr;
    return t;
}

bool claim_current() noexcept { return claim_select(current_claimer()); }

std::size_t select_start(std::size_t branches) noexcept {
    task_header* t = current_task();
    if (!t || branches < 2) return 0;
    // A per-task counter, not a thread_local: a task's selects may run on several workers.
    return t->select_turn_++ % branches;
}

}  // namespace weft::detail
