// task_header: the type-erased part of every task. The runtime (lib/) schedules headers; the
// templates in task_impl.hpp add the callable and its result.
//
// The state word (state_, detail/task_state_word.hpp) is the only place that says where a
// task is in its life; every change to it is one of that type's named transitions.
#pragma once

#include <weft/detail/block_allocator.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/task_state_word.hpp>
#include <weft/detail/waker.hpp>
#include <weft/task/task_cancelled.hpp>
#include <weft/task/task_id.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <source_location>
#include <string>
#include <utility>

namespace weft::detail {

class scheduler;
class worker;

enum class outcome : std::uint8_t { pending, value, exception, cancelled };

// Task objects come from weft/detail/block_allocator.hpp: spawning a million tasks should
// not be a million trips through malloc's slow paths.

class task_header;

/// How a task is to be spawned: what task_builder and spawn_local set.
struct spawn_options {
    std::string name;
    std::size_t stack_size = 0;  // 0: the runtime's default
    bool pinned = false;         // spawn_local: never leaves the spawning worker
    bool blocking = false;       // spawn_blocking: runs on the blocking pool, no fiber
    /// A branch of join/select/scoped children: pinned to the current worker, reports the
    /// given task's id from this_task::id() and shares its task_locals.
    task_header* branch_of = nullptr;
};

/// A region of a task that a deadline (weft::timeout) can cancel. Lives on the task's stack;
/// the task's scopes form a list from the innermost outwards. When `fired` is set, the task's
/// cancellation points throw scope_cancelled naming the outermost fired scope, which is the
/// one whose owner must report it.
struct cancel_scope {
    cancel_scope* outer = nullptr;
    std::atomic<bool> fired{false};
};

/// Thrown from a cancellation point when a cancel_scope fired. Not derived from anything, like
/// task_cancelled; the owner of `scope` catches it and converts it (weft::elapsed).
struct scope_cancelled {
    cancel_scope* scope;
};

template <class T, class Sync>
class basic_inject_queue;
template <class T, class Sync, std::uint32_t Capacity>
class basic_local_queue;
class blocking_pool;
class owned_tasks;
class scope_push;
class timeout_scope;
class inline_branch;
void submit_handler(scheduler* sched, task_header* t, std::uint8_t flags);

// Each field below belongs to one owner, and only that owner writes it. The owners are a few
// classes of lib/, so they are friends: that costs nothing on the hot paths (worker::suspend,
// run_task, park) and leaves their code as it was. C++ friendship is per class, not per
// field, so the sections say which owner each friend is for. Code that is not an owner (free
// functions in lib/, the templates in weft's headers) goes through the inline accessors, which
// are reads or one named step each, never a way to write another owner's field.
class task_header {
   public:
    explicit task_header(std::source_location loc) noexcept;
    task_header(const task_header&) = delete;
    task_header& operator=(const task_header&) = delete;

    /// Invokes the callable and records the outcome; destroys the callable. Never throws.
    virtual void run() noexcept = 0;
    /// Destroys the callable without invoking it (aborted before it started).
    virtual void drop_callable() noexcept = 0;
    /// Destroys the result nobody will take (no join interest), in the context that owns
    /// that duty: the task itself as it completes, or the handle that lets go of a finished
    /// task. Never from whatever runs next on the worker.
    virtual void drop_result() noexcept {}

    static void* operator new(std::size_t bytes) { return allocate_task(bytes); }
    static void operator delete(void* p, std::size_t bytes) noexcept { deallocate_task(p, bytes); }

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        // Ordering: acq_rel so the last owner sees every write made by the others.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    [[nodiscard]] task_id id() const noexcept { return id_; }
    [[nodiscard]] bool is_complete() const noexcept { return state_.load().is_complete(); }

    // The state word is its own owner type: its only writes are its named transitions, so
    // whoever holds the task may call them.
    [[nodiscard]] task_state_word& state() noexcept { return state_; }
    [[nodiscard]] const task_state_word& state() const noexcept { return state_; }

    // ---- accessors for code that is not an owner --------------------------------------------
    // The outcome, for whoever takes the result (the join handle, block_on); final once the
    // state word says complete.
    [[nodiscard]] outcome final_outcome() const noexcept { return outcome_; }
    [[nodiscard]] const std::exception_ptr& exception() const noexcept { return exception_; }

    // The join handle's half of the join_waker protocol (task_state_word); complete() owns the
    // other half. Publishes `w` unless the task completed meanwhile (then drops it).
    bool publish_join_waker(waker w) noexcept {
        join_waker_ = std::move(w);
        if (state_.set_join_waker()) return true;
        join_waker_.reset();
        return false;
    }
    /// Takes the published waker back; false once complete() owns it.
    bool withdraw_join_waker() noexcept {
        if (!state_.unset_join_waker()) return false;
        join_waker_.reset();
        return true;
    }

    [[nodiscard]] scheduler* sched() const noexcept { return sched_; }
    [[nodiscard]] worker* current_worker() const noexcept { return worker_; }

    // The fiber's stack, for the overflow report (a signal handler reads it: plain loads).
    [[nodiscard]] const void* stack_base() const noexcept { return stack_base_; }
    [[nodiscard]] std::size_t stack_len() const noexcept { return stack_len_; }
    [[nodiscard]] std::uint8_t stack_kind() const noexcept { return stack_kind_; }

    // Identity and context, changed only by the task itself while it runs (shield, the select
    // turn) or before it is submitted (the claim).
    [[nodiscard]] task_header* identity() const noexcept { return identity_; }
    /// task_local's storage: only task_local looks inside.
    [[nodiscard]] std::shared_ptr<void>& locals() noexcept { return locals_; }
    [[nodiscard]] cancel_scope* scopes() const noexcept { return scopes_; }
    [[nodiscard]] bool shielded() const noexcept { return shield_depth_ != 0; }
    void enter_shield() noexcept { ++shield_depth_; }
    void leave_shield() noexcept { --shield_depth_; }
    /// The record this task's consuming operations claim with: while a select runs one of
    /// its branches inline on this task's fiber, that branch's (inline_branch); otherwise
    /// the task's own (its race is null when the task is no select branch).
    [[nodiscard]] const claim_record& claim() const noexcept {
        return inline_select_ ? *inline_select_->claim : claim_;
    }
    /// The task's own record. Before the task is submitted only: afterwards any thread that
    /// grants it something may read it unlocked.
    void set_claim(const claim_record& c) noexcept { claim_ = c; }
    /// Plain select's rotating start.
    std::uint32_t next_select_turn() noexcept { return select_turn_++; }
    /// Plain select's habit (select_pick).
    [[nodiscard]] select_habit& habit() noexcept { return habit_; }
    /// Whether some select waits for this task's fiber to suspend to start its other
    /// branches (park and yield_now ask, then start_deferred_branches).
    [[nodiscard]] bool has_deferred_branches() const noexcept {
        return inline_select_ && !inline_select_->started;
    }

    // Diagnostics.
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] std::source_location spawned_at() const noexcept { return spawned_at_; }
    /// The task records where it parks, for dump(); relaxed: dump() only needs a recent value.
    void note_waiting(const char* what, std::source_location where) noexcept {
        waiting_on_.store(what, std::memory_order_relaxed);
        suspended_at_.store(where, std::memory_order_relaxed);
    }
    void clear_waiting() noexcept { waiting_on_.store(nullptr, std::memory_order_relaxed); }

   protected:
    virtual ~task_header();

    /// An Asio handler (weft::executor): the worker runs it on its own stack, not in a fiber.
    void mark_inline() noexcept { inline_ = true; }

   private:
    friend class scheduler;
    friend class worker;
    friend class blocking_pool;
    friend class owned_tasks;
    template <class T, class Sync>
    friend class basic_inject_queue;
    template <class T, class Sync, std::uint32_t Capacity>
    friend class basic_local_queue;
    friend class scope_push;
    friend class timeout_scope;
    friend class inline_branch;
    friend bool start_deferred_branches(task_header* t) noexcept;
    friend void submit_handler(scheduler* sched, task_header* t, std::uint8_t flags);

    // Layout: the fields every switch touches, for the task leaving and the one arriving
    // (yield_now, park, suspend, next_direct, enter, after_switch), fill the first two cache
    // lines; task objects are 64-byte aligned blocks (task_allocator.cpp). Spread over five
    // lines, they made a yield touch five lines of each of the two tasks: with 100 tasks per
    // worker that no longer fit in L1 (docs/performance.md, "The task header's hot lines").
    // The fields are grouped by who writes them; the comment of each group says.

    // ---- line 0 (after the vtable pointer): the state and the switch -----------------------
    task_state_word state_;
    std::atomic<std::uint32_t> refs_{1};
    worker* worker_ = nullptr;  // running it now / the owner of a pinned task
    // The fiber and the switch (worker, with lib/fiber): context, C++ exception state while
    // it is switched out.
    void* fiber_ctx_ = nullptr;
    void* eh_caught_ = nullptr;
    unsigned int eh_uncaught_ = 0;
    // The scheduler and its queues (scheduler, worker, the queue templates; submit_handler
    // binds a handler to its scheduler).
    bool pinned_ = false;  // also set by a select's inline branch while its siblings run
    bool blocking_ = false;
    bool inline_ = false;  // an Asio handler: run on the worker's stack, not in a fiber
    std::uint8_t stack_kind_ = 0;
    // Only the task itself touches these two (scope_push, timeout_scope; inline_branch): the
    // innermost cancel scope first, and the innermost select running a branch inline on this
    // task's fiber, with the record the task claims with and whether its other branches wait
    // for the fiber to suspend.
    cancel_scope* scopes_ = nullptr;
    inline_select* inline_select_ = nullptr;

    // ---- line 1: the stack, where the task waits, identity -------------------------------
    void* stack_base_ = nullptr;  // lowest address of the mapping (guard page included)
    std::size_t stack_len_ = 0;
    // Where the task is parked: written by the task (note_waiting), read by dump().
    std::atomic<const char*> waiting_on_{nullptr};
    std::atomic<std::source_location> suspended_at_{};
    const task_id id_;
    scheduler* sched_ = nullptr;
    task_header* queue_next_ = nullptr;  // inject queue / ready lists (one at a time)
    void* asan_fake_stack_ = nullptr;

   protected:
    // ---- the task's outcome: written by the task templates (task_impl.hpp) as the callable
    // returns, or by the scheduler, worker and blocking pool for a task that never ran or
    // could not run. Read through final_outcome()/exception() by the join side.
    std::exception_ptr exception_;
    outcome outcome_ = outcome::pending;
    bool result_taken_ = false;

   private:
    std::uint8_t tsan_fiber_uses_ = 0;  // TSan builds: tasks tsan_fiber_ has carried, this one too
    std::size_t stack_size_ = 0;
    // When it last became runnable (real clock, ns), for the schedule-latency histogram; set
    // only when the runtime keeps histograms (lib/scheduler/latency_recorder.hpp).
    std::int64_t ready_ns_ = 0;
    task_header* owned_prev_ = nullptr;  // the runtime's list of live tasks (owned_tasks)
    task_header* owned_next_ = nullptr;
    void* tsan_fiber_ = nullptr;

    // ---- join: the joiner writes it (publish_join_waker), complete() takes it; guarded by
    // the join_waker bit (task_state_word) -------------------------------------------------
    waker join_waker_;

    // ---- identity and context (set by scheduler::submit; then the task itself and the
    // select code through the accessors) ---------------------------------------------------
    // A branch (join/select child) reports its parent's id and shares its task_locals.
    // `locals_` is opaque storage managed by task_local (lib/ never looks in).
    task_header* identity_ = this;
    std::shared_ptr<void> locals_;
    // A select branch: the race it claims in (detail/select_claim.hpp). Written before the
    // task is submitted, read-only afterwards (by any thread that grants it something).
    claim_record claim_;
    select_habit habit_;             // plain select's start (select_pick); only the task
    std::uint32_t select_turn_ = 0;  // plain select's rotating start; only the task touches it
    std::uint32_t shield_depth_ = 0;

    // ---- diagnostics: set at spawn (the constructor, scheduler::submit) --------------------
    std::source_location spawned_at_;
    std::string name_;
};

}  // namespace weft::detail
