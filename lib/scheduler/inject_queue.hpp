// inject_queue: the global run queue. Spawns and wakes from outside the workers land here,
// as do local-queue overflows (in batches). A mutex-protected intrusive list; len_ lets
// workers skip the lock when it is empty.
#pragma once

#include <weft/detail/task_header.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>

namespace weft::detail {

class inject_queue {
   public:
    void push(task_header* t) {
        t->queue_next_ = nullptr;
        push_batch(t, t, 1);
    }

    /// Appends the list first..last (linked through queue_next_, last->queue_next_ null).
    void push_batch(task_header* first, task_header* last, std::size_t n) {
        std::lock_guard lock(mu_);
        if (tail_) tail_->queue_next_ = first; else head_ = first;
        tail_ = last;
        // Ordering: seq_cst so this store is not reordered after the producer's read of the
        // idle state (see worker::park).
        len_.store(len_.load(std::memory_order_relaxed) + n, std::memory_order_seq_cst);
    }

    task_header* pop() {
        if (is_empty()) return nullptr;
        std::lock_guard lock(mu_);
        return pop_locked();
    }

    /// Pops up to `max` tasks: the first is returned, the rest go to `sink(task)`.
    template <class Sink>
    task_header* pop_batch(std::size_t max, Sink&& sink) {
        if (is_empty() || max == 0) return nullptr;
        std::lock_guard lock(mu_);
        task_header* first = pop_locked();
        for (std::size_t i = 1; first && i < max; ++i) {
            task_header* t = pop_locked();
            if (!t) break;
            sink(t);
        }
        return first;
    }

    [[nodiscard]] bool is_empty() const { return len_.load(std::memory_order_acquire) == 0; }
    [[nodiscard]] std::size_t len() const { return len_.load(std::memory_order_acquire); }

   private:
    task_header* pop_locked() {
        task_header* t = head_;
        if (!t) return nullptr;
        head_ = t->queue_next_;
        if (!head_) tail_ = nullptr;
        t->queue_next_ = nullptr;
        len_.store(len_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
        return t;
    }

    std::mutex mu_;
    task_header* head_ = nullptr;
    task_header* tail_ = nullptr;
    std::atomic<std::size_t> len_{0};
};

}  // namespace weft::detail
