// abort_handle: a copyable right to abort a task, without the right to join it.
#pragma once

#include <weft/detail/task_header.hpp>

#include <utility>

namespace weft {

namespace detail {
void abort_task(task_header* t) noexcept;
class join_set_base;
}  // namespace detail

template <class T>
class join_handle;

/// Copyable handle that can abort a task and ask whether it finished (Tokio's AbortHandle).
class abort_handle {
   public:
    abort_handle() noexcept = default;
    /// Another handle to the same task.
    abort_handle(const abort_handle& o) noexcept
        : abort_handle(o.t_) {}
    /// Takes over `o`'s task; `o` becomes empty.
    abort_handle(abort_handle&& o) noexcept
        : t_(std::exchange(o.t_, nullptr)) {}
    /// Refers to `o`'s task instead (copy or move).
    abort_handle& operator=(abort_handle o) noexcept {
        std::swap(t_, o.t_);
        return *this;
    }
    ~abort_handle() {
        if (t_) t_->release();
    }

    /// Requests cancellation; no-op once the task finished or on an empty handle.
    void abort() const noexcept {
        if (t_) detail::abort_task(t_);
    }
    /// True once the task ended (value, exception or cancelled). False for an empty handle.
    [[nodiscard]] bool is_finished() const noexcept { return t_ && t_->is_complete(); }
    /// The task's id (0 for an empty handle).
    [[nodiscard]] task_id id() const noexcept { return t_ ? t_->id() : 0; }
    /// False for a default-constructed or moved-from handle.
    [[nodiscard]] bool valid() const noexcept { return t_ != nullptr; }

   private:
    template <class T>
    friend class join_handle;
    friend class detail::join_set_base;

    // A handle to task `t`: made by join_handle::get_abort_handle() and join_set's spawns.
    explicit abort_handle(detail::task_header* t) noexcept
        : t_(t) {
        if (t_) t_->add_ref();
    }

    detail::task_header* t_ = nullptr;
};

}  // namespace weft
