// ring: the FIFO buffer of an mpsc channel. A circular array of raw slots that grows by
// doubling up to a limit (the channel's capacity; unbounded channels have none). A bounded
// channel's steady state therefore never allocates: the ring reaches its final size once and
// keeps it. Not synchronised: the channel's lock guards it.
// Invariants: len_ <= cap_; head_ < cap_ whenever cap_ != 0; slots [head_, head_ + len_)
// (mod cap_) hold live values and no others; cap_ <= max(limit_, the largest len_ reached
// through push_front).
#pragma once

#include <weft/detail/assert.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace weft::detail::chan {

template <class T>
class ring {
   public:
    ring() noexcept = default;
    /// Reserves min(initial, limit) slots now; grows on demand up to `limit` slots.
    ring(std::size_t initial, std::size_t limit)
        : limit_(limit) {
        std::size_t n = initial < limit ? initial : limit;
        if (n != 0) {
            slots_ = alloc().allocate(n);
            cap_ = n;
        }
    }
    ring(ring&& o) noexcept
        : slots_(std::exchange(o.slots_, nullptr)),
          cap_(std::exchange(o.cap_, 0)),
          head_(std::exchange(o.head_, 0)),
          len_(std::exchange(o.len_, 0)),
          limit_(o.limit_) {}
    ring& operator=(ring&& o) noexcept {
        if (this != &o) {
            destroy();
            slots_ = std::exchange(o.slots_, nullptr);
            cap_ = std::exchange(o.cap_, 0);
            head_ = std::exchange(o.head_, 0);
            len_ = std::exchange(o.len_, 0);
            limit_ = o.limit_;
        }
        return *this;
    }
    ring(const ring&) = delete;
    ring& operator=(const ring&) = delete;
    ~ring() { destroy(); }

    [[nodiscard]] std::size_t size() const noexcept { return len_; }
    [[nodiscard]] bool empty() const noexcept { return len_ == 0; }
    /// True when the ring holds `limit` values (a bounded channel is full).
    [[nodiscard]] bool full() const noexcept { return len_ >= limit_; }

    /// Appends `v`; the caller checked !full(). May allocate (growth) before touching `v`; if
    /// that or T's move throws, the ring is unchanged.
    void push_back(T&& v) {
        if (len_ == cap_) grow();
        WEFT_ASSERT(len_ < cap_, "ring::push_back past the limit (the caller checks full())");
        ::new (static_cast<void*>(slots_ + wrap(head_ + len_))) T(std::move(v));
        ++len_;
    }
    /// Puts `v` back in front of the oldest value: a value handed to a receiver that was
    /// cancelled before it could return it (the cancel-safety rule of docs/conventions.md). May go
    /// one past the limit (senders filled the room meanwhile); full() then keeps senders waiting
    /// until the receiver drained it. If growth or T's move throws, the ring is unchanged.
    void push_front(T&& v) {
        if (len_ == cap_) grow(len_ + 1);
        WEFT_ASSERT(len_ < cap_, "ring::push_front has room after growing");
        std::size_t at = head_ == 0 ? cap_ - 1 : head_ - 1;
        ::new (static_cast<void*>(slots_ + at)) T(std::move(v));
        head_ = at;
        ++len_;
    }
    /// Removes and returns the oldest value; the caller checked !empty(). If T's move
    /// throws, the ring is unchanged.
    T pop_front() {
        WEFT_ASSERT(len_ != 0, "ring::pop_front on an empty ring (the caller checks empty())");
        T* p = slots_ + head_;
        T v(std::move(*p));
        p->~T();
        head_ = wrap(head_ + 1);
        --len_;
        return v;
    }

   private:
    static std::allocator<T> alloc() noexcept { return {}; }
    [[nodiscard]] std::size_t wrap(std::size_t i) const noexcept {
        return i >= cap_ ? i - cap_ : i;
    }
    // Strong guarantee: if copying (T's move may throw) throws, the ring is unchanged.
    void grow(std::size_t at_least = 0) {
        std::size_t n = cap_ == 0 ? 16 : cap_ * 2;
        if (n > limit_) n = limit_;
        if (n < at_least) n = at_least;
        T* fresh = alloc().allocate(n);
        std::size_t done = 0;
        try {
            for (; done < len_; ++done) {
                ::new (static_cast<void*>(fresh + done))
                    T(std::move_if_noexcept(slots_[wrap(head_ + done)]));
            }
        } catch (...) {
            while (done != 0) fresh[--done].~T();
            alloc().deallocate(fresh, n);
            throw;
        }
        for (std::size_t i = 0; i < len_; ++i) slots_[wrap(head_ + i)].~T();
        if (slots_) alloc().deallocate(slots_, cap_);
        slots_ = fresh;
        cap_ = n;
        head_ = 0;
    }
    void destroy() noexcept {
        while (len_ != 0) {
            slots_[head_].~T();
            head_ = wrap(head_ + 1);
            --len_;
        }
        if (slots_) alloc().deallocate(slots_, cap_);
        slots_ = nullptr;
        cap_ = 0;
    }

    T* slots_ = nullptr;
    std::size_t cap_ = 0;
    std::size_t head_ = 0;
    std::size_t len_ = 0;
    std::size_t limit_ = 0;
};

}  // namespace weft::detail::chan
