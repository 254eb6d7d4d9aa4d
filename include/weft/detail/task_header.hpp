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

    // ---- runtime-owned fields (lib/ only) -------------------------------------------------
    task_state_word state_;
    std::atomic<std::uint32_t> refs_{1};
    const task_id id_;
    outcome outcome_ = outcome::pending;
    bool pinned_ = false;
    bool blocking_ = false;
    bool inline_ = false;  // an Asio handler: run on the worker's stack, not in a fiber
    bool result_taken_ = false;
    std::uint32_t shield_depth_ = 0;
    std::exception_ptr exception_;
    std::source_location spawned_at_;
    std::string name_;
    std::size_t stack_size_ = 0;

    task_header* queue_next_ = nullptr;  // inject queue / ready lists (one at a time)
    task_header* owned_prev_ = nullptr;  // the runtime's list of live tasks
    task_header* owned_next_ = nullptr;
    scheduler* sched_ = nullptr;
    worker* worker_ = nullptr;  // running it now / the owner of a pinned task

    // Fiber, managed by lib/fiber: context, stack and sanitizer bookkeeping.
    void* fiber_ctx_ = nullptr;
    void* stack_base_ = nullptr;  // lowest address of the mapping (guard page included)
    std::size_t stack_len_ = 0;
    std::uint8_t stack_kind_ = 0;
    void* asan_fake_stack_ = nullptr;
    void* tsan_fiber_ = nullptr;
    void* eh_caught_ = nullptr;  // this task's C++ exception state while it is switched out
    unsigned int eh_uncaught_ = 0;

    waker join_waker_;  // guarded by the join_waker bit (task_state_word)

    // Identity and context: a branch (join/select child) reports its parent's id and shares
    // its task_locals. `locals_` is opaque storage managed by task_local (lib/ never looks in).
    task_header* identity_ = this;
    std::shared_ptr<void> locals_;
    cancel_scope* scopes_ = nullptr;  // innermost first; only the task itself touches it
    // A select branch: the race it claims in (detail/select_claim.hpp). Written before the
    // task is submitted, read-only afterwards (by any thread that grants it something).
    claim_record claim_;
    std::uint32_t select_turn_ = 0;  // plain select's rotating start; only the task touches it

    // Diagnostics for dump(): where the task is parked. Written by the task, read by dump().
    std::atomic<const char*> waiting_on_{nullptr};
    std::atomic<std::source_location> suspended_at_{};

   protected:
    virtual ~task_header();
};

}  // namespace weft::detail
