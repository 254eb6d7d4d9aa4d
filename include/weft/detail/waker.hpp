// waker: a counted reference to whatever must be woken when a wait completes: a task (its
// fiber is rescheduled) or a plain thread (its parker is signalled). Primitives keep one per
// waiter; waking consumes it. Holding a waker keeps the task's header alive, so a wake that
// races with the task's own exit (abort, timeout) never touches freed memory.
#pragma once

#include <cstdint>
#include <utility>

namespace weft::detail {

class task_header;
class thread_parker;

class waker {
   public:
    waker() noexcept = default;
    /// Takes a new reference to `t`.
    explicit waker(task_header* t) noexcept;
    /// Takes a new reference to `p`.
    explicit waker(thread_parker* p) noexcept;
    waker(waker&& o) noexcept : bits_(std::exchange(o.bits_, 0)) {}
    waker& operator=(waker&& o) noexcept {
        if (this != &o) {
            reset();
            bits_ = std::exchange(o.bits_, 0);
        }
        return *this;
    }
    waker(const waker&) = delete;
    waker& operator=(const waker&) = delete;
    ~waker() { reset(); }

    [[nodiscard]] waker clone() const noexcept;
    /// Wakes the target and drops the reference. No-op on an empty waker.
    void wake() noexcept;
    /// Wakes the target and keeps the reference.
    void wake_by_ref() const noexcept;
    void reset() noexcept {
        if (bits_ != 0) drop();
    }
    explicit operator bool() const noexcept { return bits_ != 0; }
    /// The task behind this waker, or null for a thread.
    [[nodiscard]] task_header* task() const noexcept {
        return (bits_ & 1U) ? nullptr : reinterpret_cast<task_header*>(bits_);
    }
    bool operator==(const waker& o) const noexcept { return bits_ == o.bits_; }

   private:
    void drop() noexcept;
    std::uintptr_t bits_ = 0;  // task_header*, or thread_parker* | 1
};

}  // namespace weft::detail
