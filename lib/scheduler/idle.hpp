// idle: which workers are parked and how many are searching for work (Tokio's idle.rs).
//
// state_ packs (unparked << 16) | searching. A worker that runs out of work first becomes a
// "searcher" (steals, checks the global queue) if fewer than half of the workers already
// search, so a burst of work does not wake every thread. A producer wakes one sleeper only
// when nobody is searching: the searcher will find the work, and when it does it wakes the
// next sleeper (a chain, not a broadcast).
// Ordering: producers publish work, then read state_ (seq_cst); a parking worker publishes
// itself in sleepers_/state_ (seq_cst) and then re-checks every queue. One of the two always
// sees the other, so no work is left with every worker parked.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace weft::detail {

class idle {
   public:
    explicit idle(std::size_t workers) : workers_(workers), state_(workers << unparked_shift) {
        sleepers_.reserve(workers);
    }

    /// The worker to wake for new work, if one should be woken (and marks it searching).
    std::optional<std::size_t> worker_to_notify() {
        if (!should_notify()) return std::nullopt;
        std::lock_guard lock(mu_);
        if (!should_notify() || sleepers_.empty()) return std::nullopt;
        state_.fetch_add((std::size_t{1} << unparked_shift) | 1, std::memory_order_seq_cst);
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
        return searching(state_.fetch_sub(1, std::memory_order_seq_cst)) == 1;
    }

    /// Returns true when the caller was the last searcher.
    bool transition_to_parked(std::size_t worker, bool is_searching) {
        std::lock_guard lock(mu_);
        std::size_t dec = (std::size_t{1} << unparked_shift) | (is_searching ? 1 : 0);
        std::size_t prev = state_.fetch_sub(dec, std::memory_order_seq_cst);
        sleepers_.push_back(worker);
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
    [[nodiscard]] std::size_t num_searching() const {
        return searching(state_.load(std::memory_order_seq_cst));
    }

   private:
    static constexpr unsigned unparked_shift = 16;
    static std::size_t searching(std::size_t s) { return s & ((1U << unparked_shift) - 1); }
    static std::size_t unparked(std::size_t s) { return s >> unparked_shift; }
    bool should_notify() const {
        std::size_t s = state_.load(std::memory_order_seq_cst);
        return searching(s) == 0 && unparked(s) < workers_;
    }

    const std::size_t workers_;
    std::atomic<std::size_t> state_;
    std::mutex mu_;
    std::vector<std::size_t> sleepers_;
};

}  // namespace weft::detail
