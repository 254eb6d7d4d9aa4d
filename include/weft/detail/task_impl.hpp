// task_result<R> holds a task's value; task_impl<F, R> adds the callable. One allocation per
// task: the header, the callable and the result slot live in one object.
#pragma once

#include <weft/detail/task_header.hpp>

#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace weft::detail {

template <class F>
using result_of_t = std::invoke_result_t<std::decay_t<F>>;

template <class F>
concept task_callable =
    std::is_invocable_v<std::decay_t<F>> && std::is_constructible_v<std::decay_t<F>, F>;

template <class R>
inline constexpr bool valid_result_v = std::is_void_v<R> ||
                                       (std::is_object_v<R> && std::is_move_constructible_v<R>);

template <class R>
class task_result : public task_header {
   public:
    using task_header::task_header;
    std::optional<R> value_;
};

template <>
class task_result<void> : public task_header {
   public:
    using task_header::task_header;
};

template <class F, class R>
class task_impl final : public task_result<R> {
   public:
    template <class G>
    task_impl(G&& g, std::source_location loc)
        : task_result<R>(loc) {
        ::new (static_cast<void*>(&fn_)) F(std::forward<G>(g));
    }

    void run() noexcept override {
        try {
            if constexpr (std::is_void_v<R>) {
                std::invoke(std::move(fn_));
            } else {
                this->value_.emplace(std::invoke(std::move(fn_)));
            }
            this->outcome_ = outcome::value;
        } catch (const task_cancelled&) {
            this->outcome_ = outcome::cancelled;
        } catch (...) {
            this->exception_ = std::current_exception();
            this->outcome_ = outcome::exception;
        }
        drop_callable();
    }

    void drop_result() noexcept override {
        if constexpr (!std::is_void_v<R>) this->value_.reset();
    }

    void drop_callable() noexcept override {
        if (has_fn_) {
            has_fn_ = false;
            fn_.~F();
        }
    }

    ~task_impl() override { drop_callable(); }

   private:
    union {
        F fn_;
    };
    bool has_fn_ = true;
};

/// task_local's hook: builds a child's locals from its parent's at spawn (inherited values).
using locals_inherit_fn = std::shared_ptr<void> (*)(const std::shared_ptr<void>& parent);
void set_locals_inherit(locals_inherit_fn f) noexcept;

/// Hands a new task to a runtime. `rt` null: the calling context's runtime (no_runtime
/// outside one). Takes one reference for the runtime; the caller keeps its own.
void submit(task_header* t, scheduler* rt, spawn_options&& opts);

template <class F>
task_result<result_of_t<F>>* make_task(F&& f, std::source_location loc) {
    using R = result_of_t<F>;
    static_assert(valid_result_v<R>,
                  "weft: a task's callable must return void or a move-constructible object type");
    return new task_impl<std::decay_t<F>, R>(std::forward<F>(f), loc);
}

}  // namespace weft::detail
