// join_set<T>: a set of spawned tasks, joined in the order they end (Tokio's JoinSet).
#pragma once

#include <weft/detail/task_impl.hpp>
#include <weft/task/abort_handle.hpp>
#include <weft/task/join_handle.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {

class join_set_core;
struct join_set_node;

/// Called by a member task's callable once built: it holds a reference to its node.
void join_set_member_attached(join_set_node* node) noexcept;
/// Called by a member task's callable from its destructor: the task is about to complete.
void join_set_member_ended(const std::shared_ptr<join_set_core>& core,
                           join_set_node* node) noexcept;

/// The type-independent part of join_set (lib/task/join_set.cpp).
class join_set_base {
   public:
    join_set_base(const join_set_base&) = delete;
    join_set_base& operator=(const join_set_base&) = delete;

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    void abort_all() noexcept;
    void detach_all() noexcept;

   protected:
    join_set_base();
    join_set_base(join_set_base&& o) noexcept;
    join_set_base& operator=(join_set_base&& o) noexcept;
    ~join_set_base();

    /// A node for a task about to be created (not yet in the set).
    join_set_node* new_node();
    /// Forgets a node whose task could not be created.
    void drop_node(join_set_node* n) noexcept;
    /// Puts `t` (holding the handle's reference) into the set under `n`, submits it and
    /// returns an abort_handle; on failure the task is released and the error rethrown.
    abort_handle insert(join_set_node* n, task_header* t);
    /// Waits for the next task to end and removes it: its handle's reference, or null when
    /// the set is empty. The task has completed.
    task_header* next(std::source_location where);
    /// Removes a task that has ended and completed, without waiting: its handle's reference,
    /// or null when none has. Never suspends, never a cancellation point.
    task_header* try_next() noexcept;

    std::shared_ptr<join_set_core> core_;
    std::size_t size_ = 0;
};

/// A member's callable: reports its own destruction (after the user's function object).
template <class F>
class join_set_member {
   public:
    template <class G>
    join_set_member(std::shared_ptr<join_set_core> core, join_set_node* node, G&& f)
        : f_(std::in_place, std::forward<G>(f)),
          core_(std::move(core)),
          node_(node) {
        join_set_member_attached(node_);
    }
    join_set_member(join_set_member&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
        : f_(std::move(o.f_)),
          core_(std::move(o.core_)),
          node_(o.node_) {}
    join_set_member& operator=(join_set_member&&) = delete;
    ~join_set_member() {
        if (!core_) return;
        f_.reset();
        join_set_member_ended(core_, node_);
    }

    result_of_t<F> operator()() { return std::invoke(std::move(*f_)); }

   private:
    std::optional<F> f_;  // first: if copying F throws, no reference to the node was taken
    std::shared_ptr<join_set_core> core_;
    join_set_node* node_;
};

}  // namespace detail

/// A set of spawned tasks whose results are collected in the order the tasks end.
///
/// ```cpp
/// weft::join_set<int> set;
/// for (int i = 0; i < 10; ++i) set.spawn([i] { return fetch(i); });
/// while (auto v = set.join_next()) total += *v;     // fastest first
/// ```
///
/// T is void or an object type. Destroying the set aborts the tasks still in it (it does
/// not wait for them). Single owner: not for concurrent use. Movable.
template <class T>
class join_set : private detail::join_set_base {
    static_assert(std::is_void_v<T> || std::is_object_v<T>,
                  "weft::join_set<T>: T must be void or an object type");

   public:
    join_set() = default;
    /// Takes over `o`'s tasks; `o` becomes empty.
    join_set(join_set&&) noexcept = default;
    /// Move assignment (as the move constructor).
    join_set& operator=(join_set&&) noexcept = default;
    ~join_set() = default;

    /// Spawns `f` (as weft::spawn, on the current runtime) into the set and returns a handle
    /// that can abort it. weft::no_runtime outside a runtime context.
    template <detail::task_callable F>
    requires std::is_same_v<detail::result_of_t<F>, T> abort_handle
    spawn(F&& f, std::source_location loc = std::source_location::current()) {
        detail::join_set_node* n = new_node();
        detail::task_result<T>* t;
        try {
            t = detail::make_task(
                detail::join_set_member<std::decay_t<F>>(core_, n, std::forward<F>(f)), loc);
        } catch (...) {
            drop_node(n);
            throw;
        }
        return insert(n, t);
    }

    /// Waits for the next task of the set to end, removes it and returns its value;
    /// std::nullopt when the set is empty. A task that failed or was aborted is removed too
    /// and its weft::join_error is thrown (join_error::exception() holds what it threw).
    /// join_set<void>: returns true for a task that ended normally, false when empty.
    /// **Cancellation**: cancel-safe. If the calling task is aborted while waiting, nothing
    /// is removed: the task that ends meanwhile is still returned by the next join_next. A
    /// select branch removes a task only once it has won the select.
    auto join_next(std::source_location where = std::source_location::current()) {
        // next() has removed the task (claiming the select first, in a branch) and waited for
        // its end, so the result is taken here at once. Taken through a join_handle's join it
        // passed a cancellation point and a claim again: an abort or a timeout at that point,
        // or a sibling branch winning meanwhile, destroyed a result no longer in the set.
        auto* t = static_cast<detail::task_result<T>*>(next(where));
        if constexpr (std::is_void_v<T>) {
            if (!t) return false;
            take(t);
            return true;
        } else {
            if (!t) return std::optional<T>();
            return std::optional<T>(take(t));
        }
    }

    /// Removes a task of the set that has already ended and returns its value, without
    /// waiting (Tokio's JoinSet::try_join_next); std::nullopt when no task has ended yet or
    /// the set is empty (empty() tells the two apart). A task that failed or was aborted is
    /// removed too and its weft::join_error is thrown. join_set<void>: returns true for a
    /// task that ended normally, false when none has ended.
    /// Never suspends and is not a cancellation point: an aborted caller still gets the
    /// result. Tasks are taken in the order they ended, as by join_next. Usable from any
    /// context (a task, a plain thread, an Asio handler). In a select branch that lost the
    /// race, takes nothing (std::nullopt, or false).
    auto try_join_next() {
        auto* t = static_cast<detail::task_result<T>*>(try_next());
        if constexpr (std::is_void_v<T>) {
            if (!t) return false;
            take(t);
            return true;
        } else {
            if (!t) return std::optional<T>();
            return std::optional<T>(take(t));
        }
    }

    /// Tasks in the set (running, or ended and not yet joined).
    using detail::join_set_base::size;
    /// True when size() == 0.
    using detail::join_set_base::empty;
    /// Aborts every task in the set. They stay in it: join_next reports each (a join_error
    /// that is_cancelled(), or its value if it ended first).
    using detail::join_set_base::abort_all;
    /// Removes every task from the set without aborting it: they keep running, detached (as
    /// a dropped join_handle).
    using detail::join_set_base::detach_all;

   private:
    // Consumes the outcome of a completed task (its reference included) without join(),
    // which is a cancellation point.
    static T take(detail::task_result<T>* t) { return detail::take_completed(t); }
};

}  // namespace weft
