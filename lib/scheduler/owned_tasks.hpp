// owned_tasks: every live task of a runtime, so shutdown can cancel them all and dump() can
// list them. Once closed (shutdown began), insert refuses new tasks.
// Sharded by block of task ids: a thread hands out ids from its own block of
// `task_id_block`, so the tasks one worker spawns share a shard, and that shard's cache line
// stays with the worker that usually also finishes them. Each shard counts its own tasks
// under its lock: a runtime-wide atomic counter touched by every spawn and completion
// bounced between the workers and cost more than the rest of the bookkeeping together.
#pragma once

#include "../task/task_ops.hpp"

#include <weft/detail/spin_lock.hpp>
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
        ++s.count;
        return true;
    }

    void remove(task_header* t) {
        shard& s = shard_for(t);
        std::lock_guard lock(s.mu);
        if (t->owned_prev_)
            t->owned_prev_->owned_next_ = t->owned_next_;
        else
            s.head = t->owned_next_;
        if (t->owned_next_) t->owned_next_->owned_prev_ = t->owned_prev_;
        t->owned_prev_ = t->owned_next_ = nullptr;
        --s.count;
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

    /// Calls f(task) under its shard's lock if task `id` is live (it cannot finish meanwhile).
    /// Walks one shard, not all: the blocked-worker monitor looks a task up while 100k others
    /// live, and every spawn and completion into a shard it holds spins meanwhile.
    template <class F>
    void find(task_id id, F&& f) {
        shard& s = shard_of(id);
        std::lock_guard lock(s.mu);
        for (task_header* t = s.head; t; t = t->owned_next_) {
            if (t->id() == id) {
                f(t);
                return;
            }
        }
    }

    /// Live tasks now. Takes every shard's lock in turn: two threads that each remove a task
    /// and then sum see at least one another's removal, so the last task to finish after
    /// close() always observes zero.
    [[nodiscard]] std::size_t alive() const {
        std::size_t n = 0;
        for (auto& s : shards_) {
            std::lock_guard lock(s.mu);
            n += s.count;
        }
        return n;
    }
    [[nodiscard]] bool is_closed() const { return closed_.load(std::memory_order_relaxed); }

   private:
    struct alignas(64) shard {
        mutable spin_lock mu;
        task_header* head = nullptr;
        std::size_t count = 0;
    };
    // By id alone, so that find() needs no task to pick the shard insert() used.
    shard& shard_of(task_id id) { return shards_[(id / task_id_block) % shards_.size()]; }
    shard& shard_for(task_header* t) { return shard_of(t->id()); }

    std::array<shard, 16> shards_;
    std::atomic<bool> closed_{false};
};

}  // namespace weft::detail
