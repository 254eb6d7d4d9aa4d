// waker: a counted reference to whatever must be woken when a wait completes: a task (its
// fiber is rescheduled) or a plain thread (its parker is signalled). Primitives keep one per
// waiter; waking consumes it. Holding a waker keeps the task's header alive, so a wake that
// races with the task's own exit (abort, timeout) never touches freed memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

namespace weft::detail {

class task_header;

/// Anything that is not a task but can be woken: a plain thread's parker, or an Asio
/// operation waiting for a weft event (its unpark posts the completion handler).
class wake_target {
   public:
    virtual void unpark() noexcept = 0;
    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

   protected:
    virtual ~wake_target() = default;

   private:
    std::atomic<std::uint32_t> refs_{1};
};

class waker {
   public:
    waker() noexcept = default;
    /// Takes a new reference to `t`.
    explicit waker(task_header* t) noexcept;
    /// Takes a new reference to `p`.
    explicit waker(wake_target* p) noexcept;
    waker(waker&& o) noexcept
        : bits_(std::exchange(o.bits_, 0)) {}
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
    std::uintptr_t bits_ = 0;  // task_header*, or wake_target* | 1
};

}  // namespace weft::detail
