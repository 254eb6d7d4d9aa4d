// task_local: a value per task (Tokio's task_local!). thread_local is unsafe in tasks: they
// migrate between worker threads at suspension points.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {
/// Copies an inherited value for a child task (null: the value is not inherited).
using local_copy_fn = std::shared_ptr<void> (*)(const void* value);

/// The value bound to `key` in the calling task (off tasks: the calling thread), or null.
void* find_local(const void* key) noexcept;

/// Binds `key` to `value` in the calling task for the life of this object, then restores
/// what was bound before. The task's bindings are never modified in place: a binding makes
/// a new set, so branches and children that captured the old set keep seeing it.
class local_binding {
   public:
    local_binding(const void* key, std::shared_ptr<void> value, local_copy_fn copy);
    local_binding(const local_binding&) = delete;
    local_binding& operator=(const local_binding&) = delete;
    ~local_binding();

   private:
    std::shared_ptr<void> previous_;
};

/// The calling task's (or thread's) bindings, to share with a blocking job (offload).
std::shared_ptr<void> current_locals();

/// Makes `bindings` the calling thread's for the life of this object (a blocking-pool thread
/// running offload's function), then restores the thread's own.
class locals_adoption {
   public:
    explicit locals_adoption(std::shared_ptr<void> bindings);
    locals_adoption(const locals_adoption&) = delete;
    locals_adoption& operator=(const locals_adoption&) = delete;
    ~locals_adoption();

   private:
    std::shared_ptr<void> previous_;
};
}  // namespace detail

/// A value per task, bound for the extent of a call with scope() and read with get().
///
/// ```cpp
/// inline constinit weft::task_local<std::string> request_id{/*inherited=*/true};
///
/// request_id.scope("req-42", [] {
///     log(request_id.get());                 // "req-42"
///     weft::spawn([] { log(request_id.get()); }).join();  // inherited: a copy, "req-42"
/// });
/// ```
///
/// Visibility: the task that called scope(), and the branches of weft::join/select it runs
/// (they share the task's values). A task spawned meanwhile gets a copy of every value whose
/// task_local is `inherited`, and nothing else. Blocking-pool jobs see nothing, except
/// inside weft::offload, which shares the caller's values. On a plain thread (no task) the
/// values belong to that thread.
///
/// The object itself holds no value; it is a key, usually a global or static. Thread-safe in
/// the sense that each task sees its own values.
template <class T>
class task_local {
    static_assert(std::is_object_v<T> && !std::is_const_v<T>,
                  "weft::task_local: T must be a non-const object type");

   public:
    /// `inherited`: spawn copies the parent's value into the child (T must be copyable).
    constexpr explicit task_local(bool inherited = false) noexcept
        : inherited_(inherited) {}
    task_local(const task_local&) = delete;
    task_local& operator=(const task_local&) = delete;

    /// Binds `value` to this key in the calling task while `f` runs (inline), then restores
    /// the previous binding (scopes nest). Returns f's value; f's exceptions pass through
    /// (the binding is restored either way). std::logic_error if the task_local is inherited
    /// but T is not copyable.
    /// **Cancellation**: not a cancellation point itself; `f` may suspend freely.
    template <class F>
    requires std::invocable<std::decay_t<F>>
    auto scope(T value, F&& f) const -> std::invoke_result_t<std::decay_t<F>> {
        std::decay_t<F> fn(std::forward<F>(f));
        detail::local_binding binding(this, std::make_shared<T>(std::move(value)), copier());
        return std::invoke(std::move(fn));
    }

    /// The value bound in the calling task. The reference stays valid while the binding
    /// (the enclosing scope() call) lasts. std::logic_error when no value is bound.
    T& get() const {
        if (T* p = try_get()) return *p;
        throw std::logic_error(
            "weft::task_local::get: no value is set in this task (call it inside "
            "task_local::scope, or in a task spawned from one when the task_local is "
            "inherited)");
    }

    /// The value bound in the calling task, or null.
    T* try_get() const noexcept { return static_cast<T*>(detail::find_local(this)); }

    /// True if spawned tasks get a copy of the spawner's value (see the constructor).
    [[nodiscard]] constexpr bool is_inherited() const noexcept { return inherited_; }

   private:
    static std::shared_ptr<void> copy_value(const void* v) {
        if constexpr (std::is_copy_constructible_v<T>) {
            return std::make_shared<T>(*static_cast<const T*>(v));
        } else {
            return nullptr;
        }
    }
    detail::local_copy_fn copier() const {
        if (!inherited_) return nullptr;
        if constexpr (!std::is_copy_constructible_v<T>) {
            throw std::logic_error(
                "weft::task_local: an inherited task_local needs a copyable value type");
        }
        return &copy_value;
    }

    bool inherited_;
};

}  // namespace weft
