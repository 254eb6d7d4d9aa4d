#include "timer_heap.hpp"

namespace weft::detail {

void timer_heap::insert(timer* t) {
    std::lock_guard lock(mu_);
    t->seq_ = ++seq_;
    heap_.push_back(entry{t->deadline_, t->seq_, t});
    t->index_ = heap_.size() - 1;
    sift_up(t->index_);
    publish_next();
}

void timer_heap::remove(timer* t) noexcept {
    waker dropped;
    {
        std::lock_guard lock(mu_);
        if (t->index_ == timer::not_queued) return;
        erase_at(t->index_);
        dropped = std::move(t->waker_);
        publish_next();
    }
}

void timer_heap::take_due(time_point now, std::vector<waker>& out) {
    std::lock_guard lock(mu_);
    while (!heap_.empty() && heap_.front().deadline <= now) {
        timer* t = heap_.front().t;
        erase_at(0);
        out.push_back(std::move(t->waker_));
        // Ordering: the owner may destroy `t` as soon as it sees fired; nothing touches `t`
        // after this store.
        t->fired_.store(true, std::memory_order_release);
    }
    publish_next();
}

std::size_t timer_heap::size() const {
    std::lock_guard lock(mu_);
    return heap_.size();
}

void timer_heap::sift_up(std::size_t i) noexcept {
    entry e = heap_[i];
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (!before(e, heap_[parent])) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, e);
}

void timer_heap::sift_down(std::size_t i) noexcept {
    entry e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
        if (!before(heap_[child], e)) break;
        place(i, heap_[child]);
        i = child;
    }
    place(i, e);
}

void timer_heap::erase_at(std::size_t i) noexcept {
    timer* gone = heap_[i].t;
    entry last = heap_.back();
    heap_.pop_back();
    gone->index_ = timer::not_queued;
    if (gone == last.t) return;
    place(i, last);
    if (i > 0 && before(last, heap_[(i - 1) / 2])) {
        sift_up(i);
    } else {
        sift_down(i);
    }
}

void timer_heap::publish_next() noexcept {
    next_ns_.store(heap_.empty() ? none
                                 : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       heap_.front().deadline.time_since_epoch())
                                       .count(),
                   std::memory_order_release);
}

}  // namespace weft::detail
