// task_tracker: counts tasks so a shutdown can wait for them (tokio-util's TaskTracker).
#pragma once

#include <weft/task/join_handle.hpp>
#include <weft/task/spawn.hpp>
#include <weft/time/timeout.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <source_location>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {

/// The shared part of a task_tracker and its tokens (lib/task/task_tracker.cpp).
class task_tracker_state;

/// Counts one more tracked task.
void tracker_add(task_tracker_state& s) noexcept;
/// Counts one tracked task less; wakes the waiters when that leaves the tracker closed and
/// empty.
void tracker_remove(task_tracker_state& s) noexcept;

}  // namespace detail

class task_tracker;

/// One unit counted by a task_tracker (tokio-util's TaskTrackerToken): the tracker is not
/// empty while a token exists. Movable (the moved-from token counts nothing), not copyable;
/// destroying it uncounts it. task_tracker::spawn and task_tracker::track keep one inside the
/// task's callable, so it is released when the task's function object is destroyed, just
/// before the task completes.
class task_tracker_token {
   public:
    /// A token that counts nothing.
    task_tracker_token() noexcept = default;
    /// Takes over `o`'s count; `o` then counts nothing.
    task_tracker_token(task_tracker_token&& o) noexcept = default;
    /// Uncounts this token's unit, then takes over `o`'s.
    task_tracker_token& operator=(task_tracker_token&& o) noexcept {
        if (this != &o) {
            reset();
            s_ = std::move(o.s_);
        }
        return *this;
    }
    task_tracker_token(const task_tracker_token&) = delete;
    task_tracker_token& operator=(const task_tracker_token&) = delete;
    ~task_tracker_token() { reset(); }

    /// True while this token is counted by a tracker.
    [[nodiscard]] bool valid() const noexcept { return s_ != nullptr; }

   private:
    friend class task_tracker;
    explicit task_tracker_token(std::shared_ptr<detail::task_tracker_state> s) noexcept
        : s_(std::move(s)) {
        detail::tracker_add(*s_);
    }
    void reset() noexcept {
        if (s_) {
            detail::tracker_remove(*s_);
            s_.reset();
        }
    }
    std::shared_ptr<detail::task_tracker_state> s_;
};

/// A callable counted by a task_tracker (made by task_tracker::track): calls the wrapped
/// function object; the tracker counts it from track() until this object and every copy it
/// was moved from are destroyed. The wrapped function object is destroyed first, so a waiter
/// woken by the last release sees every capture gone.
template <class F>
class tracked {
   public:
    /// Calls the wrapped function object (as an rvalue, as weft::spawn does).
    std::invoke_result_t<F> operator()() { return std::invoke(std::move(f_)); }

   private:
    friend class task_tracker;
    template <class G>
    tracked(task_tracker_token token, G&& f)
        : token_(std::move(token)),
          f_(std::forward<G>(f)) {}

    // Declared first so it is destroyed last: the count drops after f_ and its captures are
    // gone. Constructed first, so a throwing copy of f_ still releases it.
    task_tracker_token token_;
    F f_;
};

/// Counts tasks so that a shutdown can wait for them to end, without owning their results
/// (tokio-util's TaskTracker). wait() returns once the tracker is closed *and* every tracked
/// task has ended; closing does not stop anything, it only says that no more tasks are
/// expected. Unlike a join_set, a tracker keeps no results, so a finished task costs nothing
/// and the tasks may be detached.
///
/// ```cpp
/// weft::task_tracker tracker;
/// for (auto& conn : connections) tracker.spawn([&conn] { serve(conn); });
/// tracker.close();                                   // no more tasks to come
/// if (!tracker.wait_for(5s)) { /* some are still running */ }
/// ```
///
/// A task is tracked from spawn() or track() until its function object is destroyed, a few
/// instructions before it completes (also when it is aborted before it started, or when its
/// spawn failed). Copies share one tracker (as Tokio's clones): copying is cheap and every
/// member is safe from any thread or task. Waiting works in a task (only the task waits) and
/// on a plain thread (the thread blocks); on a worker thread outside a task (an Asio
/// handler) the waits throw std::logic_error.
class task_tracker {
   public:
    /// An open, empty tracker.
    task_tracker();
    /// Another handle to the same tracker.
    task_tracker(const task_tracker&) = default;
    /// Makes this a handle to `o`'s tracker.
    task_tracker& operator=(const task_tracker&) = default;
    ~task_tracker() = default;

    /// Spawns `f` as weft::spawn does, tracked until its function object is destroyed.
    /// Throws weft::no_runtime outside a runtime context (and then tracks nothing).
    template <detail::task_callable F>
    join_handle<detail::result_of_t<F>> spawn(
        F&& f, std::source_location loc = std::source_location::current()) {
        return weft::spawn(track(std::forward<F>(f)), loc);
    }
    /// weft::spawn_local, tracked.
    template <detail::task_callable F>
    join_handle<detail::result_of_t<F>> spawn_local(
        F&& f, std::source_location loc = std::source_location::current()) {
        return weft::spawn_local(track(std::forward<F>(f)), loc);
    }
    /// weft::spawn_blocking, tracked.
    template <detail::task_callable F>
    join_handle<detail::result_of_t<F>> spawn_blocking(
        F&& f, std::source_location loc = std::source_location::current()) {
        return weft::spawn_blocking(track(std::forward<F>(f)), loc);
    }

    /// Wraps `f` (decay-copied) into a callable that this tracker counts until it is
    /// destroyed (tokio-util's track_future): pass it to any spawn (a task_builder, a
    /// weft::handle, a join_set, the Asio executor) to track that task.
    ///
    /// ```cpp
    /// auto h = weft::task_builder().name("worker").spawn(tracker.track([] { work(); }));
    /// ```
    template <class F>
    requires std::is_invocable_v<std::decay_t<F>> && std::is_constructible_v<std::decay_t<F>, F>
        tracked<std::decay_t<F>> track(F&& f)
    const { return tracked<std::decay_t<F>>(token(), std::forward<F>(f)); }

    /// A token counted by this tracker until it is destroyed: for work that is not a task's
    /// function object.
    [[nodiscard]] task_tracker_token token() const { return task_tracker_token(s_); }

    /// Closes the tracker: wait() may return once it is empty. Tasks may still be tracked
    /// after close() (wait() then waits for them too, unless it already returned). Returns
    /// true if this call closed it, false if it was closed already.
    bool close() noexcept;
    /// Opens a closed tracker again (waits already returned are not affected). Returns true
    /// if this call reopened it, false if it was open.
    bool reopen() noexcept;
    /// True once close() was called (and not undone by reopen()).
    [[nodiscard]] bool is_closed() const noexcept;
    /// How many tasks (and tokens) are tracked now.
    [[nodiscard]] std::size_t len() const noexcept;
    /// True when len() == 0.
    [[nodiscard]] bool is_empty() const noexcept;

    /// Waits until the tracker is closed and empty (both at once; returns at once if it
    /// already is). Does not consume or join anything: the tracked tasks' results stay with
    /// their join_handles. Throws std::logic_error on a worker thread outside a task.
    /// **Cancellation**: a cancellation point, cancel-safe: if the task is aborted while
    /// waiting, task_cancelled is thrown and nothing changed (the tracker and its tasks are
    /// untouched; a later wait works as before).
    void wait(std::source_location where = std::source_location::current()) const;

    /// Waits as wait(), at most until `deadline` (from weft::time::now(); virtual while the
    /// clock is paused). Returns true if the tracker was closed and empty in time, false once
    /// the deadline passed. On a plain thread the wait lasts `deadline - time::now()` of real
    /// time from the call.
    /// **Cancellation**: as wait(): a cancel-safe cancellation point; an abort while waiting
    /// throws task_cancelled.
    bool wait_until(std::chrono::steady_clock::time_point deadline,
                    std::source_location where = std::source_location::current()) const;

    /// Waits as wait(), at most for `d`. Returns true if the tracker was closed and empty in
    /// time, false once `d` passed (on the runtime clock, so a paused clock jumps there when
    /// every task is idle).
    /// **Cancellation**: as wait(): a cancel-safe cancellation point; an abort while waiting
    /// throws task_cancelled.
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& d,
                  std::source_location where = std::source_location::current()) const {
        return wait_until(detail::deadline_after(d), where);
    }

   private:
    bool wait_impl(const std::chrono::steady_clock::time_point* deadline,
                   std::source_location where) const;
    std::shared_ptr<detail::task_tracker_state> s_;
};

}  // namespace weft
