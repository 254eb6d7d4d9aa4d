// child_group: the children of one join, select or scoped call, and the wait that keeps the
// caller from leaving before every child has ended. Not for users.
//
// A child is a task whose callable is wrapped (branch<> below, or scoped's child): the
// wrapper reports `returned` when the user's function returned or threw, and `destroyed`
// from its destructor, after the user's function object (and everything it captured) is
// gone. The owner waits until every child was destroyed, then until each task completed
// (a few instructions later: the fiber's exit runs no user code), so when join/select/scoped
// return, no child's code runs any more and every handle reports is_finished().
//
// State (mu_): alive_ (wrappers not yet destroyed), cancelling_ (every child was aborted),
// first_/first_exception_ (the select winner, or the first failure). A detail::spin_lock: the
// critical sections are short, never suspend and run no user code (the longest wakes tasks,
// the aborted children or the owner, which may post to another worker's shard). Only
// scoped's children, which run in parallel on other workers, contend for it; branches of
// join/select share one worker (their owner may migrate). A std::mutex's lock and unlock, ten
// of each per select call, were 10% of the select benchmark row's samples.
//
// select may run one branch on the owner's own fiber (inline_branch.hpp): that branch is no
// child; it ends through claim_to_end and returned like one, and it is cancelled through the
// group's cancel scope instead of an abort.
//
// Cancel-safety: the wait is not a cancellation point (docs/conventions.md, cancellation points
// (3)): an abort of the owner aborts every child and keeps waiting; the owner throws after the
// wait.
//
// select (first_end) decides through a claim (detail/select_claim.hpp): each branch's task
// carries {&race_, index}; a branch that consumes claims race_ first, and an ending branch
// claims in returned(). Only the claim holder decides the group, so the holder's value is
// never dropped. A branch that ends while another holds the claim waits first, on its own
// fiber (claim_to_end, before returned() takes mu_): the holder either returns and wins (this
// branch is aborted and decides nothing) or starts its next consuming operation, which
// releases the claim (a loop branch), and the ending branch claims and wins.
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/spin_lock.hpp>
#include <weft/detail/task_header.hpp>
#include <weft/detail/task_impl.hpp>
#include <weft/detail/waker.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace weft::detail {

class child_group {
   public:
    enum class policy : unsigned char {
        first_failure,  ///< join, scoped: the first child that throws cancels the others
        first_end,      ///< select: the first child that ends (either way) cancels the others
    };
    static constexpr std::size_t none = ~std::size_t{0};

    /// Owner side. `scope` (scoped): fired, and the owner woken, when a child fails, so the
    /// owner's inline function is cancelled too. Needs a context that may wait (a task or a
    /// plain thread): std::logic_error on a worker outside a task.
    explicit child_group(policy p, cancel_scope* scope = nullptr);
    child_group(const child_group&) = delete;
    child_group& operator=(const child_group&) = delete;
    /// Cancels and waits for children still alive (an exception left the owner early), then
    /// drops the references.
    ~child_group();

    /// Counts a child whose wrapper is about to be built (the wrapper's destructor always
    /// reports `destroyed`, even when building the task fails).
    void reserve() noexcept;
    /// Records child task `t` (not yet submitted; takes a reference). Aborted at once when the
    /// group is already cancelling.
    void attach(task_header* t);
    /// Forgets `t` whose submission failed (drops the group's reference).
    void discard(task_header* t) noexcept;

    /// select with an inline branch (inline_branch.hpp): branch `index` runs on the owner's
    /// fiber under the group's cancel scope, which is fired (and the owner woken) when
    /// another branch decides the group, as the other losers are aborted.
    void set_inline(std::size_t index) noexcept { inline_ = index; }

    /// The claim record a child at `index` carries (select only; empty for join/scoped).
    /// Set on the child's task before it is submitted.
    [[nodiscard]] claim_record claim_for(std::size_t index) noexcept {
        return policy_ == policy::first_end ? claim_record{&race_, index} : claim_record{};
    }

    /// Child side, on the child's fiber right before returned(): under first_end, waits while
    /// another branch holds the claim until it is released (then claims) or this task is
    /// aborted. May suspend; never throws.
    void claim_to_end(std::size_t index) noexcept;
    /// Child side: the user's function returned (`e` null) or threw `e`. Under first_end the
    /// child claims the race; it decides the group only if it holds the claim.
    void returned(std::size_t index, std::exception_ptr e) noexcept;
    /// Child side: the wrapper is gone (its last access to the group).
    void destroyed() noexcept;

    /// Aborts every child (idempotent); their later endings decide nothing.
    void cancel_all() noexcept;
    /// Waits until every child is gone and its task completed. If the owner is cancelled
    /// meanwhile (abort, or a timeout scope around it), every child is aborted first. Not a
    /// cancellation point.
    void wait(const char* what, std::source_location where);

    /// After wait(): the winner (first_end) or the first failure (first_failure); none if
    /// nothing decided.
    [[nodiscard]] std::size_t first() const noexcept { return first_; }
    /// After wait(): what the winner or first failure threw (null if it returned).
    [[nodiscard]] const std::exception_ptr& first_exception() const noexcept {
        return first_exception_;
    }

   private:
    void cancel_all_locked() noexcept;

    spin_lock mu_;
    const policy policy_;
    cancel_scope* const scope_;
    waker owner_;
    std::vector<task_header*> children_;
    std::size_t alive_ = 0;
    bool cancelling_ = false;
    bool waited_ = false;
    std::size_t first_ = none;
    std::size_t inline_ = none;  // select: the branch on the owner's fiber, if any
    std::exception_ptr first_exception_;
    select_race race_;  // first_end only
};

/// Submits `t`, registering it with `g` first; on failure `t` is discarded and released.
void submit_child(child_group& g, task_header* t, spawn_options&& opts);

/// A branch's value type: void becomes std::monostate.
template <class F>
using branch_value_t =
    std::conditional_t<std::is_void_v<result_of_t<F>>, std::monostate, result_of_t<F>>;

/// The callable of a join/select branch: runs the user's function, stores its value in the
/// owner's slot (or reports the exception), and reports its own destruction.
template <class F, class V>
class branch {
   public:
    template <class G>
    branch(child_group& g, std::size_t index, std::optional<V>& slot, G&& f)
        : g_(&g),
          index_(index),
          slot_(&slot),
          f_(std::in_place, std::forward<G>(f)) {}
    branch(branch&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
        : g_(std::exchange(o.g_, nullptr)),
          index_(o.index_),
          slot_(o.slot_),
          returned_(o.returned_),
          f_(std::move(o.f_)) {}
    branch& operator=(branch&&) = delete;
    ~branch() {
        if (!g_) return;
        f_.reset();  // the user's captures die before the owner may leave
        // Never invoked (aborted before it started, or no stack): it ended without a value.
        if (!returned_) g_->returned(index_, std::make_exception_ptr(task_cancelled{}));
        g_->destroyed();
    }

    void operator()() {
        std::exception_ptr e;
        try {
            if constexpr (std::is_void_v<result_of_t<F>>) {
                std::invoke(std::move(*f_));
                slot_->emplace();
            } else {
                slot_->emplace(std::invoke(std::move(*f_)));
            }
        } catch (...) {
            e = std::current_exception();
        }
        returned_ = true;
        g_->claim_to_end(index_);
        g_->returned(index_, std::move(e));
    }

   private:
    child_group* g_;
    std::size_t index_;
    std::optional<V>* slot_;
    bool returned_ = false;
    std::optional<F> f_;
};

/// Spawns branch `index` of a join/select as a fiber of `parent` (on a plain thread, parent
/// null: as an ordinary task of its runtime), its result going to `slot`.
template <class Fn, class V>
void spawn_branch(child_group& g, task_header* parent, std::size_t index, std::optional<V>& slot,
                  Fn&& fn) {
    using fn_t = std::decay_t<Fn>;
    g.reserve();
    task_header* t = make_task(branch<fn_t, V>(g, index, slot, std::forward<Fn>(fn)),
                               std::source_location::current());
    t->set_claim(g.claim_for(index));  // not yet submitted: nobody else reads it
    spawn_options opts;
    opts.branch_of = parent;
    submit_child(g, t, std::move(opts));
    t->release();  // the group keeps its own reference; no handle is needed
}

/// Spawns every branch of a join/select as a fiber of the calling task (on a plain thread:
/// as ordinary tasks of its runtime), results going to `slots`.
template <class... F, class Slots, std::size_t... I>
void spawn_branches(child_group& g, Slots& slots, std::index_sequence<I...>, F&&... f) {
    task_header* parent = current_task();
    (spawn_branch(g, parent, I, std::get<I>(slots), std::forward<F>(f)), ...);
}

}  // namespace weft::detail
