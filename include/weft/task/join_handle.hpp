// join_handle<T>: the owner's view of a spawned task (Tokio's JoinHandle).
#pragma once

#include <weft/detail/task_impl.hpp>
#include <weft/task/abort_handle.hpp>
#include <weft/task/join_error.hpp>

#include <boost/asio/async_result.hpp>

#include <exception>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <utility>

namespace weft {

namespace detail {
/// Waits until `t` completed. Cancellation point of the *joining* task (task_cancelled leaves
/// the handle intact). std::logic_error when a task joins itself, or on a worker outside a task.
void join_wait(task_header* t, std::source_location where);
/// Marks the outcome observed by a join; throws join_error unless the task returned a value.
void take_outcome(task_header* t);
/// Consumes the outcome of a completed task and the caller's reference to it: its value, or
/// join_error. What join() does after the wait, and join_set after finding a task ended.
template <class T>
T take_completed(task_result<T>* t) {
    struct releaser {
        task_header* t;
        ~releaser() { t->release(); }
    } hold{t};
    take_outcome(t);
    if constexpr (!std::is_void_v<T>) return std::move(*t->value_);
}
/// The handle is gone without a join: the task is detached; an exception nobody will observe
/// goes to the runtime's unhandled_exception policy.
void detach_task(task_header* t) noexcept;
struct handle_access;
template <class T>
struct initiate_join;  // detail/join_op.hpp

template <class T>
struct join_signature {
    using type = void(std::exception_ptr,
                      std::conditional_t<std::is_default_constructible_v<T>, T, std::optional<T>>);
};
template <>
struct join_signature<void> {
    using type = void(std::exception_ptr);
};
}  // namespace detail

/// Owner's handle to a spawned task. Movable; destroying it detaches the task (it keeps
/// running). Single owner: join is not to be called concurrently.
template <class T>
class join_handle {
   public:
    join_handle() noexcept = default;
    /// Takes over `o`'s task; `o` becomes invalid (valid() == false).
    join_handle(join_handle&& o) noexcept
        : t_(std::exchange(o.t_, nullptr)) {}
    /// Detaches the task this handle referred to (as the destructor does), then takes over `o`'s.
    join_handle& operator=(join_handle&& o) noexcept {
        if (this != &o) {
            reset();
            t_ = std::exchange(o.t_, nullptr);
        }
        return *this;
    }
    join_handle(const join_handle&) = delete;
    join_handle& operator=(const join_handle&) = delete;
    ~join_handle() { reset(); }

    /// Suspends until the task ends, then returns its value.
    /// Throws join_error when the task was aborted or threw (the original is in
    /// join_error::exception()); std::logic_error on an empty handle (moved from or already
    /// joined) or when a task joins itself.
    /// **Cancellation**: cancel-safe. If the joining task is aborted while waiting,
    /// task_cancelled is thrown and this handle still owns the result. A select branch takes
    /// the result only once it has won the select; a result ready as a timeout's deadline
    /// passes is returned.
    T join(std::source_location where = std::source_location::current()) {
        if (t_ == nullptr) {
            throw std::logic_error(
                "weft::join_handle::join: the handle is empty (moved from, or already joined)");
        }
        detail::join_wait(t_, where);
        return detail::take_completed(std::exchange(t_, nullptr));
    }

    /// True while the handle refers to a task (not moved from, not joined).
    [[nodiscard]] bool valid() const noexcept { return t_ != nullptr; }
    /// True once the task ended.
    [[nodiscard]] bool is_finished() const noexcept { return t_ && t_->is_complete(); }
    /// Requests cancellation: the task throws task_cancelled at its next cancellation point;
    /// a task that has not started never runs. No-op once finished.
    void abort() const noexcept {
        if (t_) detail::abort_task(t_);
    }
    /// A copyable handle that can abort the task but not join it.
    [[nodiscard]] abort_handle get_abort_handle() const { return abort_handle(t_); }
    /// The task's id (0 for an invalid handle).
    [[nodiscard]] task_id id() const noexcept { return t_ ? t_->id() : 0; }

    /// Asio form of join, for callback code, strands and coroutines: completes with
    /// void(std::exception_ptr, T) (void(std::exception_ptr) for T = void; std::optional<T>
    /// when T is not default-constructible); the exception_ptr holds a join_error when the
    /// task failed or was cancelled. Consumes the handle. The handler runs on its associated
    /// executor, or a weft worker when it has none; never inside this call.
    /// **Cancellation**: through the handler's cancellation slot; completes with a
    /// system_error(operation_aborted) in the exception_ptr and leaves the task running
    /// (detached).
    template <class Token>
    auto async_join(Token&& token) {
        using sig = typename detail::join_signature<T>::type;
        if (t_ == nullptr) {
            throw std::logic_error(
                "weft::join_handle::async_join: the handle is empty (moved from, or already "
                "joined)");
        }
        return boost::asio::async_initiate<Token, sig>(detail::initiate_join<T>{}, token,
                                                       std::move(*this));
    }

   private:
    friend struct detail::handle_access;
    explicit join_handle(detail::task_result<T>* t) noexcept
        : t_(t) {}
    void reset() noexcept {
        if (t_) detail::detach_task(std::exchange(t_, nullptr));
    }
    detail::task_result<T>* t_ = nullptr;
};

namespace detail {
struct handle_access {
    template <class T>
    static join_handle<T> make(task_result<T>* t) noexcept {
        return join_handle<T>(t);
    }
    template <class T>
    static task_result<T>* get(const join_handle<T>& h) noexcept {
        return h.t_;
    }
    /// Takes the task out of the handle without detaching it (the caller owns the reference).
    template <class T>
    static task_result<T>* take(join_handle<T>& h) noexcept {
        return std::exchange(h.t_, nullptr);
    }
};

/// Creates the task for `f`, submits it with `opts` to `rt` (null: the current runtime) and
/// returns its handle. The handle owns the task even if submit throws.
template <class F>
join_handle<result_of_t<F>> spawn_with(scheduler* rt, spawn_options opts, F&& f,
                                       std::source_location loc) {
    auto h = handle_access::make(make_task(std::forward<F>(f), loc));
    submit(handle_access::get(h), rt, std::move(opts));
    return h;
}
}  // namespace detail

}  // namespace weft
