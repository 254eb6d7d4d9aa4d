// idle: which workers are parked and how many are searching for work (Tokio's idle.rs).
//
// state_ packs (generation << 32) | (unparked << 16) | searching. A worker that runs out of work
// first becomes a "searcher" (steals, checks the global queue) if fewer than half of the workers
// already search, so a burst of work does not wake every thread. A producer wakes one sleeper only
// when nobody is searching: the searcher will find the work, and when it does it wakes the
// next sleeper (a chain, not a broadcast).
//
// The generation counts parkings (it wraps). It lets the paused clock's auto-advance ask
// "were all workers parked for the whole of my look at the queues?": two equal snapshots
// with unparked == 0 say yes, since any worker that unparked in between had to park again to
// bring unparked back to 0, and that parking changed the generation (an equal unparked count
// alone missed a worker that ran a task and parked again in between: issue #12, item 2).
//
// Invariants: searching <= unparked <= workers (a searcher is an unparked worker); sleepers_
// (under mu_) holds exactly workers - unparked distinct indices; a worker is in sleepers_
// from transition_to_parked until worker_to_notify picks it or unpark_by_id removes it.
//
// Ordering: no lost sleeper. Two sides must not miss each other (Dekker's store-buffer shape):
//   producer:  publish work (a release store: ring tail, inject len, ...)
//              F1: seq_cst fence                      (worker_to_notify)
//              read state_ (seq_cst load)             -> notify only if nobody searches
//   parker:    RMW on state_ (seq_cst fetch_sub)      (transition_to_parked)
//              F2: seq_cst fence                      (transition_to_parked)
//              re-check every queue (acquire loads)   (worker::park)
// If the producer's read misses the parker's RMW, that read precedes the RMW in the single
// total order S of seq_cst operations, so F1 < read < RMW < F2 in S; then F2 cannot precede
// F1, and the parker's re-check, which F2 happens before, must see the work that F1 happens
// after ([atomics.order]: a read ordered after F2 cannot read a value overwritten by a write
// before F1). So either the producer sees the parker (and wakes someone) or the parker sees
// the work.
// Why F1 is a fence and not the seq_cst load alone: the publishing store is only a release
// store, and a later seq_cst load may be ordered before it (on x86 the store waits in the
// store buffer while the load reads; C++ gives no order between a release store and a later
// seq_cst load either). Without F1, a producer could read "someone is searching" while the
// last searcher, not yet seeing the work, parked: the work then waited for the producer to
// finish whatever it ran next (issue #12, item 5). Every producer path (ring push, overflow,
// inject push, yield, timer-ready wakes) reaches the idle state only through
// worker_to_notify, so the fence is in one place. F2 is what makes the parker's plain acquire
// re-checks count (an RMW followed by acquire loads is not ordered by S on its own); on x86
// the lock-prefixed RMW already is a full barrier, so F2 costs little, and it is off the hot
// path. (Pinned wakes are targeted and do not use this state: schedule_pinned's seq_cst store
// and load pair with park()'s seq_cst parked_ store and pinned_pending_ load.)
#pragma once

#include "atomics.hpp"

#include <weft/detail/assert.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace weft::detail {

template <class Sync = std_sync>
class basic_idle {
   public:
    explicit basic_idle(std::size_t workers)
        : workers_(workers),
          state_(workers << unparked_shift) {
        sleepers_.reserve(workers);
    }

    /// The worker to wake for new work, if one should be woken (and marks it searching).
    /// Call after publishing the work.
    std::optional<std::size_t> worker_to_notify() {
        // Ordering: F1 of the header; pairs with F2 in transition_to_parked.
        Sync::fence_seq_cst();
        if (!should_notify()) return std::nullopt;
        std::lock_guard lock(mu_);
        if (!should_notify() || sleepers_.empty()) return std::nullopt;
        std::size_t prev =
            state_.fetch_add((std::size_t{1} << unparked_shift) | 1, std::memory_order_seq_cst);
        WEFT_ASSERT(unparked(prev) < workers_ && searching(prev) < workers_,
                    "a woken sleeper fits in the counts");
        (void)prev;
        std::size_t w = sleepers_.back();
        sleepers_.pop_back();
        return w;
    }

    bool transition_to_searching() {
        std::size_t s = state_.load(std::memory_order_seq_cst);
        if (2 * searching(s) >= workers_) return false;
        state_.fetch_add(1, std::memory_order_seq_cst);
        return true;
    }

    /// Returns true when the caller was the last searcher (it should wake another worker if
    /// it found work, so the search goes on).
    bool transition_from_searching() {
        std::size_t prev = state_.fetch_sub(1, std::memory_order_seq_cst);
        WEFT_ASSERT(searching(prev) != 0, "only a searcher stops searching");
        return searching(prev) == 1;
    }

    /// Registers `worker` as a sleeper. Returns true when the caller was the last searcher.
    /// The caller re-checks every queue afterwards (see the header: F2 orders those checks).
    bool transition_to_parked(std::size_t worker, bool is_searching) {
        std::size_t prev = 0;
        {
            std::lock_guard lock(mu_);
            std::size_t dec = (std::size_t{1} << unparked_shift) | (is_searching ? 1 : 0);
            // One RMW: the count drops and the generation moves together (modular
            // arithmetic; the fields below the generation do not borrow: unparked != 0).
            prev = state_.fetch_add(generation_unit - dec, std::memory_order_seq_cst);
            WEFT_ASSERT(unparked(prev) != 0 && (!is_searching || searching(prev) != 0),
                        "a parking worker was counted unparked (and searching)");
            WEFT_ASSERT(sleepers_.size() < workers_ && std::find(sleepers_.begin(), sleepers_.end(),
                                                                 worker) == sleepers_.end(),
                        "a worker parks once");
            sleepers_.push_back(worker);
        }
        // Ordering: F2 of the header; pairs with F1 in worker_to_notify.
        Sync::fence_seq_cst();
        return is_searching && searching(prev) == 1;
    }

    /// Removes `worker` from the sleepers if it is there (it woke for another reason).
    bool unpark_by_id(std::size_t worker) {
        std::lock_guard lock(mu_);
        auto it = std::find(sleepers_.begin(), sleepers_.end(), worker);
        if (it == sleepers_.end()) return false;
        sleepers_.erase(it);
        state_.fetch_add(std::size_t{1} << unparked_shift, std::memory_order_seq_cst);
        return true;
    }

    bool is_parked(std::size_t worker) {
        std::lock_guard lock(mu_);
        return std::find(sleepers_.begin(), sleepers_.end(), worker) != sleepers_.end();
    }

    [[nodiscard]] std::size_t num_unparked() const {
        return unparked(state_.load(std::memory_order_seq_cst));
    }
    /// The whole state word, for comparing two looks (see the generation, above).
    [[nodiscard]] std::size_t snapshot() const { return state_.load(std::memory_order_seq_cst); }
    [[nodiscard]] static bool all_parked(std::size_t snapshot) { return unparked(snapshot) == 0; }
    [[nodiscard]] std::size_t num_searching() const {
        return searching(state_.load(std::memory_order_seq_cst));
    }
    /// Tests: the sleepers, under the lock.
    [[nodiscard]] std::size_t num_sleepers() {
        std::lock_guard lock(mu_);
        return sleepers_.size();
    }

   private:
    static constexpr unsigned unparked_shift = 16;
    static constexpr unsigned generation_shift = 32;
    static constexpr std::size_t generation_unit = std::size_t{1} << generation_shift;
    static constexpr std::size_t field_mask = (std::size_t{1} << unparked_shift) - 1;
    static_assert(sizeof(std::size_t) == 8, "the state word packs three fields into 64 bits");
    static std::size_t searching(std::size_t s) { return s & field_mask; }
    static std::size_t unparked(std::size_t s) { return (s >> unparked_shift) & field_mask; }
    bool should_notify() const {
        std::size_t s = state_.load(std::memory_order_seq_cst);
        return searching(s) == 0 && unparked(s) < workers_;
    }

    const std::size_t workers_;
    typename Sync::template atomic<std::size_t> state_;
    typename Sync::mutex mu_;
    std::vector<std::size_t> sleepers_;
};

using idle = basic_idle<>;

}  // namespace weft::detail
