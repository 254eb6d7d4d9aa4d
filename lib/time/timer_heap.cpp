#include "timer_heap.hpp"

#include <weft/detail/fault_injection.hpp>

#include <algorithm>
#include <stdexcept>

namespace weft::detail {

std::uint32_t timer_heap::take_slot(timer* t) {
    std::uint32_t s = free_;
    if (s != timer::not_queued) {
        free_ = records_[s].next_free;
    } else {
        if (records_.size() >= timer::not_queued) throw std::length_error("weft: too many timers");
        s = static_cast<std::uint32_t>(records_.size());
        records_.emplace_back();
    }
    records_[s].t = t;
    return s;
}

void timer_heap::insert(timer* t) {
    std::lock_guard lock(mu_);
    if (fault::any_armed.load(std::memory_order_relaxed)) [[unlikely]] {
        // Only the growth below can throw bad_alloc: inject it only when a vector grows.
        bool grows = heap_.size() == heap_.capacity() ||
                     (free_ == timer::not_queued && records_.size() == records_.capacity());
        if (grows && fault::hit_armed(fault::point::timer_heap_grow)) {
            fault::fail(fault::point::timer_heap_grow);
        }
    }
    // Nothing below can throw once the record is taken. Grown geometrically: reserve(size + 1)
    // allocates exactly that, so a heap growing one timer at a time copied itself whole on
    // every insert; a burst of 100k sleeps spent its first round reallocating.
    if (heap_.size() == heap_.capacity()) {
        heap_.reserve(std::max<std::size_t>(64, 2 * heap_.capacity()));
    }
    std::uint32_t s = take_slot(t);
    t->slot_ = s;
    heap_.push_back(entry{t->deadline_, ++seq_, s});
    records_[s].pos = static_cast<std::uint32_t>(heap_.size() - 1);
    sift_up(heap_.size() - 1);
    publish_next();
}

void timer_heap::insert(timer* t, time_point deadline, waker w) {
    t->fired_.store(false, std::memory_order_relaxed);
    t->deadline_ = deadline;
    t->waker_ = std::move(w);
    insert(t);
}

void timer_heap::remove(timer* t) noexcept {
    waker dropped;
    {
        std::lock_guard lock(mu_);
        if (t->slot_ == timer::not_queued) return;
        erase_at(records_[t->slot_].pos);
        t->slot_ = timer::not_queued;
        dropped = std::move(t->waker_);
        publish_next();
    }
}

void timer_heap::take_due(time_point now, std::vector<waker>& out) {
    std::lock_guard lock(mu_);
    while (!heap_.empty() && heap_.front().deadline <= now) {
        timer* t = erase_at(0);
        t->slot_ = timer::not_queued;
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

timer* timer_heap::erase_at(std::size_t i) noexcept {
    std::uint32_t s = heap_[i].slot;
    timer* gone = records_[s].t;
    records_[s].next_free = free_;
    free_ = s;
    entry last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return gone;
    place(i, last);
    if (i > 0 && before(last, heap_[(i - 1) / 2])) {
        sift_up(i);
    } else {
        sift_down(i);
    }
    return gone;
}

void timer_heap::publish_next() noexcept {
    next_ns_.store(heap_.empty() ? none
                                 : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       heap_.front().deadline.time_since_epoch())
                                       .count(),
                   std::memory_order_release);
}

}  // namespace weft::detail
