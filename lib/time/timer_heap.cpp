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
    // No earlier than the run's last entry (a tombstone still holds its deadline): appended,
    // and the run stays sorted, since this entry's arming order is the newest.
    const bool to_run = run_empty() || !(t->deadline_ < run_at(run_end_ - 1).deadline);
    const bool run_full = run_end_ - run_begin_ == run_.size();
    if (fault::any_armed.load(std::memory_order_relaxed)) [[unlikely]] {
        // Only the growth below can throw bad_alloc: inject it only when a vector grows.
        bool grows = (to_run ? run_full : heap_.size() == heap_.capacity()) ||
                     (free_ == timer::not_queued && records_.size() == records_.capacity());
        if (grows && fault::hit_armed(fault::point::timer_heap_grow)) {
            fault::fail(fault::point::timer_heap_grow);
        }
    }
    // Nothing below can throw once the record is taken. Grown geometrically: reserve(size + 1)
    // allocates exactly that, so a heap growing one timer at a time copied itself whole on
    // every insert; a burst of 100k sleeps spent its first round reallocating.
    if (!to_run && heap_.size() == heap_.capacity()) {
        heap_.reserve(std::max<std::size_t>(64, 2 * heap_.capacity()));
    }
    if (to_run && run_full) grow_run();
    std::uint32_t s = take_slot(t);
    t->slot_ = s;
    entry e{t->deadline_, ++seq_, s};
    if (to_run) {
        records_[s].pos = run_bit | run_end_;
        run_at(run_end_++) = e;
    } else {
        heap_.push_back(e);
        records_[s].pos = heap_.size() - 1;
        sift_up(heap_.size() - 1);
    }
    publish_next();
}

void timer_heap::grow_run() {
    std::vector<entry> bigger(std::max<std::size_t>(64, 2 * run_.size()));
    for (std::uint64_t p = run_begin_; p != run_end_; ++p) {
        bigger[p & (bigger.size() - 1)] = run_at(p);
    }
    run_.swap(bigger);
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
        std::uint32_t s = t->slot_;
        std::uint64_t pos = records_[s].pos;
        if (pos & run_bit) {
            // A tombstone: the entry keeps its place (and deadline), so the run stays sorted.
            run_at(pos & ~run_bit).slot = dead;
            ++run_dead_;
            free_slot(s);
            trim_run();
        } else {
            erase_at(pos);
        }
        t->slot_ = timer::not_queued;
        dropped = std::move(t->waker_);
        publish_next();
    }
}

void timer_heap::take_due(time_point now, std::vector<waker>& out) {
    std::lock_guard lock(mu_);
    for (;;) {
        // The earlier of the two fronts, by the one order both keep.
        const bool from_run =
            !run_empty() && (heap_.empty() || before(run_at(run_begin_), heap_.front()));
        if (!from_run && heap_.empty()) break;
        if ((from_run ? run_at(run_begin_) : heap_.front()).deadline > now) break;
        timer* t = from_run ? pop_run_front() : erase_at(0);
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
    return heap_.size() + static_cast<std::size_t>(run_end_ - run_begin_ - run_dead_);
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

timer* timer_heap::free_slot(std::uint32_t s) noexcept {
    timer* gone = records_[s].t;
    records_[s].next_free = free_;
    free_ = s;
    return gone;
}

timer* timer_heap::erase_at(std::size_t i) noexcept {
    timer* gone = free_slot(heap_[i].slot);
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

timer* timer_heap::pop_run_front() noexcept {
    timer* gone = free_slot(run_at(run_begin_).slot);
    ++run_begin_;
    trim_run();
    return gone;
}

void timer_heap::trim_run() noexcept {
    while (!run_empty() && run_at(run_begin_).slot == dead) {
        ++run_begin_;
        --run_dead_;
    }
    // Tombstones wait for their deadline to reach the front. Once they outnumber the live
    // entries (timeouts disarmed long before they were due), the live ones move up over
    // them: each move is paid for by a removal that made a tombstone (amortised O(1)), and
    // the ring never holds more than twice its live entries plus a few.
    constexpr std::uint64_t few = 64;
    const std::uint64_t count = run_end_ - run_begin_;
    if (run_dead_ <= few || 2 * run_dead_ <= count) return;
    std::uint64_t to = run_begin_;
    for (std::uint64_t p = run_begin_; p != run_end_; ++p) {
        const entry e = run_at(p);
        if (e.slot == dead) continue;
        records_[e.slot].pos = run_bit | to;
        run_at(to++) = e;
    }
    run_end_ = to;
    run_dead_ = 0;
}

void timer_heap::publish_next() noexcept {
    auto ns = [](const entry& e) {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(e.deadline.time_since_epoch())
            .count();
    };
    std::int64_t next = heap_.empty() ? none : ns(heap_.front());
    if (!run_empty()) next = std::min(next, ns(run_at(run_begin_)));
    next_ns_.store(next, std::memory_order_release);
}

}  // namespace weft::detail
