// inject_queue: the global run queue. Spawns and wakes from outside the workers land here,
// as do local-queue overflows (in batches). An intrusive list (linked through T::queue_next_)
// under a spin lock (Sync::queue_lock); len_ lets workers skip the lock when it is empty.
//
// Invariants (under mu_): head_ == nullptr <=> tail_ == nullptr; the list from head_ has
// exactly len_ nodes and ends at tail_ with tail_->queue_next_ == nullptr. len_ is written only
// under mu_; lock-free readers (is_empty, len) see a value that was true at some point.
// Ordering: len_ is stored with release under the lock, after the list is linked, and read with
// acquire; a reader that sees it non-zero still takes the lock before touching the list, so the
// lock, not len_, orders the nodes. A producer that must not leave the new work unseen by a
// parking worker does not rely on this store: it issues a seq_cst fence before reading the
// idle state (idle::worker_to_notify), which pairs with the fence in idle::transition_to_parked.
#pragma once

#include "atomics.hpp"

#include <weft/detail/assert.hpp>
#include <weft/detail/task_header.hpp>

#include <cstddef>
#include <mutex>

namespace weft::detail {

/// T: any type with a `T* queue_next_` member (task_header in production, a plain node in
/// the structure tests). Sync: see atomics.hpp.
template <class T, class Sync = std_sync>
class basic_inject_queue {
   public:
    void push(T* t) {
        t->queue_next_ = nullptr;
        push_batch(t, t, 1);
    }

    /// Appends the list first..last (linked through queue_next_, last->queue_next_ null).
    void push_batch(T* first, T* last, std::size_t n) {
        WEFT_ASSERT(n != 0 && last->queue_next_ == nullptr, "a batch is a non-empty, closed list");
        std::lock_guard lock(mu_);
        if (tail_)
            tail_->queue_next_ = first;
        else
            head_ = first;
        tail_ = last;
        len_.store(len_.load(std::memory_order_relaxed) + n, std::memory_order_release);
    }

    T* pop() {
        if (is_empty()) return nullptr;
        std::lock_guard lock(mu_);
        return pop_locked();
    }

    /// Pops up to `max` tasks: the first is returned, the rest go to `sink(task)`.
    template <class Sink>
    T* pop_batch(std::size_t max, Sink&& sink) {
        if (is_empty() || max == 0) return nullptr;
        std::lock_guard lock(mu_);
        T* first = pop_locked();
        for (std::size_t i = 1; first && i < max; ++i) {
            T* t = pop_locked();
            if (!t) break;
            sink(t);
        }
        return first;
    }

    [[nodiscard]] bool is_empty() const { return len_.load(std::memory_order_acquire) == 0; }
    [[nodiscard]] std::size_t len() const { return len_.load(std::memory_order_acquire); }

   private:
    T* pop_locked() {
        T* t = head_;
        if (!t) {
            WEFT_ASSERT(tail_ == nullptr && len_.load(std::memory_order_relaxed) == 0,
                        "an empty inject queue has no tail and a zero length");
            return nullptr;
        }
        head_ = t->queue_next_;
        if (!head_) tail_ = nullptr;
        t->queue_next_ = nullptr;
        std::size_t len = len_.load(std::memory_order_relaxed);
        WEFT_ASSERT(len != 0, "len_ counts every linked node");
        len_.store(len - 1, std::memory_order_release);
        return t;
    }

    typename Sync::queue_lock mu_;
    T* head_ = nullptr;
    T* tail_ = nullptr;
    typename Sync::template atomic<std::size_t> len_{0};
};

using inject_queue = basic_inject_queue<task_header>;

}  // namespace weft::detail
