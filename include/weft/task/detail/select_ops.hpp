// select_ops: weft::select over operations, on the caller's fiber. Not for users.
//
// The protocol with the operations is in detail/select_op.hpp; the claim in
// detail/select_claim.hpp. One call:
//   1. begin_consuming() and the budget (a cancellation point, as any receive);
//   2. a select_race on this frame, whose `outer` is the caller's own claim record when the
//      caller is a branch of an enclosing select (so a grant claims through it);
//   3. the operations start in rotation (or in order, biased) until one completes at once;
//   4. decide: the holder of the race, once its status is final, wins; an operation that
//      ended without consuming (no claim) is claimed for here; else park and look again;
//   5. every other operation still queued is withdrawn; the winner's finish() is returned.
// Refused by an enclosing select (the race's holder has status refused: its inner claim was
// ours, a level above belongs to another branch): everything is withdrawn and the select
// starts over once that level is released (wait_reopened), as a refused blocking receive
// retries.
//
// Cancellation: while waiting, a cancelled caller withdraws every operation. If one was
// granted meanwhile (it holds the race and its status is final) its result is returned, as a
// callable select returns a winner's value (the next cancellation point throws); otherwise
// task_cancelled (or the timeout's scope) is thrown and nothing was taken.
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/select_op.hpp>
#include <weft/detail/wait_status.hpp>
#include <weft/detail/waker.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace weft::detail {

/// An operation's status slot in the select's frame: not started yet (or withdrawn while
/// still queued), as distinct from any wait_status.
inline constexpr std::uint32_t op_idle = ~std::uint32_t{0};

template <class... Ops>
class op_select {
    static constexpr std::size_t n = sizeof...(Ops);
    using result_type = std::variant<typename std::remove_cvref_t<Ops>::value_type...>;

   public:
    explicit op_select(Ops&... ops) noexcept
        : ops_(ops...) {}

    result_type run(bool biased, std::source_location where) {
        begin_consuming();  // before the budget's yield: see select_claim.hpp
        consume_budget(where);
        for (;;) {  // started over when an enclosing select refused us
            select_race race;
            race.outer = claimer_of_current();
            std::array<claim_record, n> recs;
            for (std::size_t i = 0; i < n; ++i) recs[i] = claim_record{&race, i};
            st_.fill(op_idle);
            first_ = biased ? 0 : select_start(n);
            std::size_t winner = none;
            try {
                winner = race_once(race, recs, where);
            } catch (...) {
                // start() threw (a misuse, or no runtime for a timer), or the caller was
                // cancelled with nothing granted: every queued waiter leaves before this frame
                // (its race, its records) goes. An operation started earlier may have been
                // granted meanwhile: it consumed, so its result is returned rather than lost
                // (a misuse throws again on the next call).
                withdraw_all(none);
                winner = granted_holder(race);
                if (winner == none) throw;
            }
            withdraw_all(winner);
            if (winner != none) return finish(winner);
            // Refused by an enclosing select: nothing was taken; withdraw_all above emptied
            // every queue, so nobody refers to `race` any more.
            wait_reopened("weft::select", where);
        }
    }

   private:
    static constexpr std::size_t none = ~std::size_t{0};
    enum class verdict : unsigned char { undecided, won, refused };

    // Starts the operations and waits for the decision. Returns the winner, or none when an
    // enclosing select refused the claim.
    std::size_t race_once(select_race& race, std::array<claim_record, n>& recs,
                          std::source_location where) {
        waker w = current_waker("weft::select");
        for (std::size_t k = 0; k < n; ++k) {
            std::size_t i = (first_ + k) % n;
            visit(i, [&](auto& op) { st_[i] = op.start(&recs[i], w); });
            if (st_[i] != wait_status::waiting) break;  // done (or refused) at once
        }
        for (;;) {
            std::size_t winner = none;
            switch (decide(race, winner)) {
                case verdict::won:
                    return winner;
                case verdict::refused:
                    return none;
                case verdict::undecided:
                    break;
            }
            if (cancellation_requested()) {
                // Withdrawn, every queue is empty, so the statuses are final: a granted holder
                // keeps its result (it consumed); anything else throws with nothing taken.
                withdraw_all(none);
                if (std::size_t held = granted_holder(race); held != none) return held;
                throw_if_cancelled();
            }
            park("weft::select", where);
            refresh();
        }
    }

    // The decision as far as it can be made now (see the file comment, step 4).
    verdict decide(select_race& race, std::size_t& winner) noexcept {
        for (;;) {
            // Ordering: acquire pairs with the claimer's acq_rel CAS (claim_race); the holder's
            // payload itself is published by its status (its granter's release).
            std::size_t held = race.winner.load(std::memory_order_acquire);
            if (held != select_race::none) {
                if (st_[held] == wait_status::waiting) {
                    visit(held, [&](auto& op) { st_[held] = op.status(); });
                }
                // Claimed under the granter's lock, granted in the same hold: the status
                // follows (and wakes us).
                if (!is_final(st_[held])) return verdict::undecided;
                if (st_[held] == wait_status::refused) return verdict::refused;
                winner = held;
                return verdict::won;
            }
            // Nobody holds the race: an operation that ended without consuming is claimed for
            // here.
            std::size_t ended = first_ended();
            if (ended == none) return verdict::undecided;
            if (claim_race(&race, ended)) {
                winner = ended;
                return verdict::won;
            }
            // Ours at this level, refused above it: an enclosing select's branch holds.
            if (race.winner.load(std::memory_order_acquire) == ended) return verdict::refused;
            // Another operation holds the race now: re-read it.
        }
    }

    // The first operation, in rotation order (the order start gave them), with a final status
    // other than refused; none if there is none yet.
    std::size_t first_ended() const noexcept {
        for (std::size_t k = 0; k < n; ++k) {
            std::size_t i = (first_ + k) % n;
            if (is_final(st_[i]) && st_[i] != wait_status::refused) return i;
        }
        return none;
    }

    // After withdraw_all(): the operation that holds the race and was granted (it consumed),
    // or none.
    std::size_t granted_holder(const select_race& race) const noexcept {
        std::size_t held = race.winner.load(std::memory_order_acquire);
        if (held == select_race::none || !is_final(st_[held]) || st_[held] == wait_status::refused)
            return none;
        return held;
    }

    static bool is_final(std::uint32_t s) noexcept {
        return s != wait_status::waiting && s != op_idle;
    }

    void refresh() noexcept {
        for (std::size_t i = 0; i < n; ++i) {
            if (st_[i] == wait_status::waiting) visit(i, [&](auto& op) { st_[i] = op.status(); });
        }
    }

    void withdraw_all(std::size_t except) noexcept {
        for (std::size_t i = 0; i < n; ++i) {
            if (i == except || st_[i] != wait_status::waiting) continue;
            visit(i, [&](auto& op) { st_[i] = op.withdraw() ? op_idle : op.status(); });
        }
    }

    template <std::size_t I = 0>
    result_type finish(std::size_t winner) {
        if constexpr (I + 1 < n) {
            if (winner != I) return finish<I + 1>(winner);
        }
        return result_type(std::in_place_index<I>, std::get<I>(ops_).finish(st_[I]));
    }

    template <class F>
    void visit(std::size_t i, F&& f) {
        visit_at(i, f, std::index_sequence_for<Ops...>{});
    }
    template <class F, std::size_t... I>
    void visit_at(std::size_t i, F& f, std::index_sequence<I...>) {
        ((i == I ? f(std::get<I>(ops_)) : void()), ...);
    }

    std::tuple<Ops&...> ops_;
    std::array<std::uint32_t, n> st_{};
    std::size_t first_ = 0;
};

}  // namespace weft::detail
