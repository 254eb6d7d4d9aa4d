// owned_tasks: every live task of a runtime, so shutdown can cancel them all and dump() can
// list them. Sharded by task id so spawns on different workers rarely share a lock. Once
// closed (shutdown began), insert refuses new tasks.
#pragma once

#include "spin_lock.hpp"

#include <weft/detail/task_header.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <mutex>

namespace weft::detail {

class owned_tasks {
   public:
    /// False when the runtime is shutting down (the task was not added).
    bool insert(task_header* t) {
        shard& s = shard_for(t);
        std::lock_guard lock(s.mu);
        if (closed_.load(std::memory_order_relaxed)) return false;
        t->owned_prev_ = nullptr;
        t->owned_next_ = s.head;
        if (s.head) s.head->owned_prev_ = t;
        s.head = t;
        alive_.fetch_add(1, std::memory_order_relaxed);
        return true;
    }

    /// Returns the number of tasks still alive after the removal.
    std::size_t remove(task_header* t) {
        shard& s = shard_for(t);
        std::lock_guard lock(s.mu);
        if (t->owned_prev_) t->owned_prev_->owned_next_ = t->owned_next_; else s.head = t->owned_next_;
        if (t->owned_next_) t->owned_next_->owned_prev_ = t->owned_prev_;
        t->owned_prev_ = t->owned_next_ = nullptr;
        return alive_.fetch_sub(1, std::memory_order_acq_rel) - 1;
    }

    /// Refuses later inserts, then calls f(task) for every live task under its shard's lock.
    template <class F>
    void close_and_for_each(F&& f) {
        for (auto& s : shards_) {
            std::lock_guard lock(s.mu);
            closed_.store(true, std::memory_order_relaxed);
        }
        for_each(f);
    }

    template <class F>
    void for_each(F&& f) {
        for (auto& s : shards_) {
            std::lock_guard lock(s.mu);
            for (task_header* t = s.head; t; t = t->owned_next_) f(t);
        }
    }

    [[nodiscard]] std::size_t alive() const { return alive_.load(std::memory_order_acquire); }
    [[nodiscard]] bool is_closed() const { return closed_.load(std::memory_order_relaxed); }

   private:
    struct alignas(64) shard {
        spin_lock mu;
        task_header* head = nullptr;
    };
    shard& shard_for(task_header* t) { return shards_[t->id_ % shards_.size()]; }

    std::array<shard, 16> shards_;
    std::atomic<std::size_t> alive_{0};
    std::atomic<bool> closed_{false};
};

}  // namespace weft::detail
