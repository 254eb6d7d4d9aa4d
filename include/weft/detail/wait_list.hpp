// wait_list: the waiter machinery shared by every weft primitive that makes callers wait
// (sync: mutex, semaphore, notify, barrier, ...; channels). Not for users.
//
// Contract
// --------
// A primitive owns a lock (usually the spin_lock below) and one or more wait_list<Node>, where
// Node derives from wait_node and adds what the primitive needs (permits wanted, a value
// slot, ...). Lists and a queued node's fields are touched only under that lock.
//
// Two kinds of waiter share one node type:
//   - fiber/thread waiters: the node lives on the waiting task's (or thread's) stack. The
//     waiter calls set_waker(current_waker(op)) and queues the node under the lock, releases
//     the lock, then calls wait_for_grant(). No allocation.
//   - Asio waiters: async_wait_op<Node, Handler> (allocated with the handler's allocator) adds
//     the handler, a work guard on its executor (outstanding_work.tracked while pending) and
//     its cancellation slot. The initiating function never completes it inline: every
//     completion is posted to the handler's associated executor, or to
//     default_completion_executor() (a weft worker) when it has none.
//
// Status. A queued node's status is wait_status::waiting. Exactly one side ends a wait:
//   - The granter (unlock, release, notify, send, close, ...), under the lock, writes any
//     payload into the node, unlinks it and calls wake_batch::grant(node, status) with a final
//     status (granted, closed, or a primitive's own value >= wait_status::user). From then on
//     it must not touch the node: a fiber waiter may already have returned and popped its
//     frame. The batch wakes the waiter (or posts the handler) in flush(), which the granter
//     calls after releasing the lock, so no wake and no user code runs under the lock.
//   - The waiter, when cancelled (task abort, timeout scope; for Asio waiters terminal,
//     partial or total cancellation through the slot), takes the lock: if its node is still
//     linked it unlinks it and has consumed nothing; if it is no longer linked it was granted
//     meanwhile and must pass what it got on (unlock the mutex it was handed, return the
//     permits, forward the notification), so a grant is never lost and never duplicated.
//     withdraw_if_queued() below is that step, written once.
// Under the lock, "linked" and "status == waiting" mean the same thing.
//
// Lock order with a wake_batch. A granter declares its wake_batch *before* the lock guard:
//     wake_batch<1> wakes;           // destroyed last: flushes after the unlock
//     std::unique_lock lk(mu);
// so that on every exit path (return, throw) the guard is destroyed first and the batch's
// destructor wakes the waiters after the lock is released. Declared the other way round, the
// wakes would run under the lock: a woken fiber resumed at once on another worker would spin
// on the lock its granter still holds, and an Asio completion (or the waker of a foreign
// thread) would run code that is not ours under a spin lock. No wake and no user code ever
// runs under the lock; a granter that unlocks by hand calls wakes.flush() after lk.unlock().
//
// Select claims (detail/select_claim.hpp). A waiter that consumes (receives a value, takes a
// permit or a lock, takes a notification, advances a cursor) calls set_claimer(
// current_claimer()) before it is queued (current_claimer() also gives back a claim its
// branch holds from an earlier operation: a loop branch moves on), and every grant path calls
// node.try_claim() under the lock *before* writing a payload: on false the granter unlinks
// the node and grants it wait_status::refused, and what was to be granted goes to the next
// waiter or stays in the primitive. A waiter that finds what it wants available at once calls
// claim_current() (or claim_select(claimer)) before taking it. Refused either way, it has
// taken nothing: it calls wait_reopened() (which returns once the race is released, or throws
// when its task is aborted) and retries its whole operation from the start. No operation
// returns a result for `refused`. Statuses that consume nothing (closed, aborted) need no
// claim.
//
// A granted wait returns what it got, even if a deadline (a timeout's scope) fired meanwhile:
// the caller's next cancellation point throws, and timeout(d, op) returns op's result when the
// grant and the deadline coincide (timeout returns a value f returned). A wait granted as its
// task is *aborted* passes the grant on (unlock, release, forward) or, for a receive, puts the
// value back (mpsc recv/recv_many, oneshot recv; a join leaves the result in the handle) and
// throws: the aborted task would only drop it (a receive whose put-back throws returns the
// value instead: channel/detail/waiter.hpp, give_back_if_aborted). With claims, a select loser is
// never granted; a select winner is aborted only when the select's own caller is cancelled.
//
// Hooks are auto_unlink, so a node can be unlinked from whichever list holds it: grant_all()
// moves a whole list to a list on its own stack and grants from there in batches, releasing
// the lock between batches; a waiter cancelled meanwhile still unlinks itself under the lock.
// wait_list::push_back numbers the nodes (seq) for primitives that need arrival order.
//
// What a Node must provide for async_wait_op<Node, Handler>:
//   bool cancel_wait() noexcept;    the waiter side of cancellation above: lock; if linked,
//                                   unlink and undo partial progress; return true iff unlinked
//   std::tuple<boost::system::error_code, T...> completion_args(std::uint32_t status) noexcept;
//                                   the handler's arguments for a final status, or for
//                                   wait_status::aborted (cancelled through the slot). Called
//                                   once, by the granter (or canceller), outside the lock; the
//                                   T must own what was granted (a std::unique_lock, a permit)
//                                   so a handler destroyed uninvoked gives it back.
// An Asio waiter is initiated as: op = async_wait_op<...>::create(handler, node args...);
// if ready now: op->complete(status); else op->arm_cancellation(), then queue it under the
// lock (re-checking readiness there; if ready after all, complete(status) after unlocking).
#pragma once

#include <weft/detail/assert.hpp>
#include <weft/detail/completion_executor.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/spin_lock.hpp>
#include <weft/detail/wait_status.hpp>
#include <weft/detail/waker.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/intrusive/list.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <source_location>
#include <tuple>
#include <utility>

namespace weft::detail {

template <std::size_t N>
class wake_batch;
template <class Node>
class wait_list;

using wait_hook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

/// The part of a waiter every primitive shares. See the contract at the top of this file.
class wait_node : public wait_hook {
   public:
    wait_node() noexcept = default;
    wait_node(const wait_node&) = delete;
    wait_node& operator=(const wait_node&) = delete;
    ~wait_node() { WEFT_ASSERT(!is_linked(), "a waiter is destroyed while still queued"); }

    /// The final status, or wait_status::waiting. Ordering: acquire pairs with the granter's
    /// release in wake_batch::grant, so the payload it wrote is visible after a final status.
    [[nodiscard]] std::uint32_t status() const noexcept {
        return status_.load(std::memory_order_acquire);
    }
    /// Under the lock: still waiting in some list.
    [[nodiscard]] bool is_queued() const noexcept { return is_linked(); }
    /// Unlinks the node from whichever list holds it. Under the lock.
    void remove() noexcept { unlink(); }
    /// Arrival number given by wait_list::push_back (1, 2, ... per list).
    [[nodiscard]] std::uint64_t seq() const noexcept { return seq_; }
    /// Fiber/thread waiters: whom to wake. Set before the node is queued.
    void set_waker(waker w) noexcept { waker_ = std::move(w); }
    /// Asio waiters have a completion function instead of a waker.
    [[nodiscard]] bool is_async() const noexcept { return complete_ != nullptr; }
    /// A consuming waiter: the claim that must win its select before this node may be granted
    /// (current_claimer(): the record of the waiter's task, null when the task is not a select
    /// branch, or is shielded or unwinding; or the record of one operation of a select over
    /// operations, detail/select_op.hpp). Set before the node is queued; read by granters
    /// under the lock.
    void set_claimer(const claim_record* c) noexcept { claimer_ = c; }
    /// Granter side, under the lock, before writing any payload: may this node be granted?
    /// False means another branch (or operation) of its select holds the race: unlink it and
    /// grant it wait_status::refused, leaving the value, permit or notification for the next
    /// waiter or in the primitive (the waiter retries once the race is released).
    [[nodiscard]] bool try_claim() noexcept {
        return claimer_ == nullptr || claim_select(claimer_);
    }

   protected:
    using complete_fn = void (*)(wait_node*) noexcept;
    void set_completion(complete_fn f) noexcept { complete_ = f; }
    [[nodiscard]] std::uint32_t status_relaxed() const noexcept {
        return status_.load(std::memory_order_relaxed);
    }

   private:
    template <std::size_t N>
    friend class wake_batch;
    template <class Node>
    friend class wait_list;

    std::atomic<std::uint32_t> status_{wait_status::waiting};
    complete_fn complete_ = nullptr;
    waker waker_;
    const claim_record* claimer_ = nullptr;
    std::uint64_t seq_ = 0;
};

/// A FIFO of waiters. Not locked itself: the owning primitive's lock guards it.
template <class Node>
class wait_list {
    using list_type = boost::intrusive::list<Node, boost::intrusive::constant_time_size<false>>;

   public:
    wait_list() noexcept = default;
    wait_list(const wait_list&) = delete;
    wait_list& operator=(const wait_list&) = delete;
    ~wait_list() { WEFT_ASSERT(list_.empty(), "a primitive is destroyed with waiters queued"); }

    [[nodiscard]] bool empty() const noexcept { return list_.empty(); }
    Node& front() noexcept { return list_.front(); }
    Node& back() noexcept { return list_.back(); }
    void push_back(Node& n) noexcept {
        n.seq_ = ++seq_;
        list_.push_back(n);
    }
    Node& pop_front() noexcept {
        Node& n = list_.front();
        list_.pop_front();
        return n;
    }
    /// Moves every node to the back of `to` (keeping their seq).
    void splice_to(wait_list& to) noexcept { to.list_.splice(to.list_.end(), list_); }
    /// The seq of the last node pushed so far.
    [[nodiscard]] std::uint64_t last_seq() const noexcept { return seq_; }
    auto begin() noexcept { return list_.begin(); }
    auto end() noexcept { return list_.end(); }

   private:
    list_type list_;
    std::uint64_t seq_ = 0;
};

/// Wakes collected under a primitive's lock and performed after it is released (flush(), or
/// the destructor). N bounds how many grants one lock hold may make; primitives that end
/// many waits at once release the lock between batches (grant_all()).
template <std::size_t N = 1>
class wake_batch {
   public:
    wake_batch() noexcept = default;
    wake_batch(const wake_batch&) = delete;
    wake_batch& operator=(const wake_batch&) = delete;
    ~wake_batch() { flush(); }

    [[nodiscard]] bool full() const noexcept { return n_ == N; }
    [[nodiscard]] bool empty() const noexcept { return n_ == 0; }

    /// Under the lock, with `w` already unlinked: ends its wait with `status`. The granter
    /// must have written the node's payload before and must not touch the node after.
    void grant(wait_node& w, std::uint32_t status) noexcept {
        WEFT_ASSERT(n_ < N, "wake_batch overflow");
        WEFT_ASSERT(!w.is_linked(), "a waiter is granted while still queued");
        WEFT_ASSERT(status != wait_status::waiting, "grant needs a final status");
        entry& e = entries_[n_++];
        if (w.complete_) {
            e.async = &w;  // freed only by its own completion, so it outlives the lock
        } else {
            e.w = std::move(w.waker_);
        }
        // Ordering: release publishes the payload (and, for a hand-off, the previous owner's
        // critical section) to the waiter's acquire in wait_node::status().
        w.status_.store(status, std::memory_order_release);
    }

    /// After the lock is released: wakes the waiters, posts the Asio completions.
    void flush() noexcept {
        for (std::size_t i = 0; i < n_; ++i) {
            entry& e = entries_[i];
            if (e.async) {
                wait_node* w = std::exchange(e.async, nullptr);
                w->complete_(w);
            } else {
                e.w.wake();
            }
        }
        n_ = 0;
    }

   private:
    struct entry {
        waker w;
        wait_node* async = nullptr;
    };
    entry entries_[N];
    std::size_t n_ = 0;
};

/// For a granter that hands one thing to the first waiter allowed to take it: the front of
/// `list` once its claim succeeds (try_claim), left queued, for the granter to pop once what
/// it hands over is in place; the waiters before it, whose select another branch holds, are
/// popped and passed to `refuse(Node&)`, which must see that each is told
/// wait_status::refused. Null when nobody in `list` may take it. Under the owner's lock.
template <class Node, class Refuse>
Node* first_claimed(wait_list<Node>& list, Refuse&& refuse) noexcept {
    while (!list.empty()) {
        Node& w = list.front();
        if (w.try_claim()) return &w;
        refuse(list.pop_front());
    }
    return nullptr;
}

/// first_claimed for a notify_one: pops the waiter it returns; the refused ones go to
/// `refused`, to be told wait_status::refused once the choice is made (grant_all).
template <class Node>
Node* pop_first_claimed(wait_list<Node>& list, wait_list<Node>& refused) noexcept {
    Node* w = first_claimed(list, [&](Node& r) noexcept { refused.push_back(r); });
    if (w) list.pop_front();
    return w;
}

/// Ends the wait of every node in `list` with `status`. `lk` must hold the owner's lock; it is
/// released between batches of `N` and on return (all wakes done). `before(Node&)` runs under
/// the lock just before each node is granted (to settle partial progress). Nodes queued in
/// `list` meanwhile are not affected; a waiter cancelled meanwhile unlinks itself.
template <std::size_t N = 32, class Node, class Lock, class Before>
void grant_all(wait_list<Node>& list, std::unique_lock<Lock>& lk, std::uint32_t status,
               Before&& before) noexcept {
    WEFT_ASSERT(lk.owns_lock(), "grant_all needs the owner's lock");
    wait_list<Node> taken;
    list.splice_to(taken);
    wake_batch<N> wakes;
    for (;;) {
        while (!taken.empty() && !wakes.full()) {
            Node& n = taken.pop_front();
            before(n);
            wakes.grant(n, status);
        }
        bool done = taken.empty();
        lk.unlock();
        wakes.flush();
        if (done) return;
        lk.lock();
    }
}

template <std::size_t N = 32, class Node, class Lock>
void grant_all(wait_list<Node>& list, std::unique_lock<Lock>& lk, std::uint32_t status) noexcept {
    grant_all<N>(list, lk, status, [](Node&) noexcept {});
}

/// The waiter side of cancellation (the contract above): takes `mu`, the owner's lock; if `w`
/// is still queued, unlinks it, calls `undo(lk)` with the lock still held (in `lk`, which
/// `undo` may release, e.g. to hand back partial progress through a wake batch) and returns
/// true: nothing was granted. Returns false, with nothing undone, when a granter ended the
/// wait first (the waiter then owns, and must pass on, what it was granted).
template <class Lock, class Undo>
bool withdraw_if_queued(Lock& mu, wait_node& w, Undo&& undo) noexcept {
    std::unique_lock<Lock> lk(mu);
    if (!w.is_queued()) return false;
    w.remove();
    undo(lk);
    return true;
}

/// withdraw_if_queued for a waiter with no partial progress to undo.
template <class Lock>
bool withdraw_if_queued(Lock& mu, wait_node& w) noexcept {
    return withdraw_if_queued(mu, w, [](std::unique_lock<Lock>&) noexcept {});
}

/// Starts an Asio wait whose `enqueue(op)` takes the owner's lock itself and returns
/// wait_status::waiting when it queued `op`, else the final status `op` is completed with
/// (ready, closed, refused). The cancellation slot is armed first, outside the lock (it may
/// allocate), so a cancellation can reach `op` as soon as it is queued.
template <class Op, class Enqueue>
void arm_and_enqueue(Op& op, Enqueue&& enqueue) {
    op.arm_cancellation();
    std::uint32_t s = enqueue(op);
    if (s != wait_status::waiting) op.complete(s);
}

/// The waiting side for a task or a plain thread. `w` is queued with its waker set, and the
/// lock is released. Parks until the wait ends and returns the final status.
/// - Cancelled while `w` still waits: calls withdraw(), which takes the owner's lock and, if
///   `w` is still queued, unlinks it (undoing partial progress) and returns true; then this
///   throws task_cancelled (or scope_cancelled). False means it was granted meanwhile.
/// - Granted (before or after a cancellation): returns the status, unless the task is
///   aborted (abort_requested()): then pass_on(status) hands what was granted to the next
///   waiter (unlock, release, forward) and this throws. A grant met by a deadline only is
///   returned; the caller's next cancellation point throws (see the contract above).
template <class Withdraw, class PassOn>
std::uint32_t wait_for_grant(wait_node& w, const char* what, std::source_location where,
                             Withdraw&& withdraw, PassOn&& pass_on) {
    for (;;) {
        // Ordering: status() is an acquire load pairing with the granter's release.
        std::uint32_t s = w.status();
        if (s == wait_status::waiting) {
            if (!cancellation_requested()) {
                park(what, where);
                continue;
            }
            if (withdraw()) {
                throw_if_cancelled();
                WEFT_INVARIANT(false, "a requested cancellation throws");
            }
            s = w.status();  // granted under the lock: final now
        }
        if (abort_requested()) {
            pass_on(s);
            throw_if_cancelled();
            WEFT_INVARIANT(false, "a requested cancellation throws");
        }
        return s;
    }
}

/// An Asio operation waiting in a wait_list: Node plus the handler, its work guard and its
/// cancellation slot. See the contract at the top of this file.
template <class Node, class Handler>
class async_wait_op final : public Node {
    using args_type = decltype(std::declval<Node&>().completion_args(std::uint32_t{}));
    using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
    using allocator_type =
        boost::asio::associated_allocator_t<Handler, boost::asio::recycling_allocator<void>>;
    using slot_type = boost::asio::associated_cancellation_slot_t<Handler>;
    using op_allocator =
        typename std::allocator_traits<allocator_type>::template rebind_alloc<async_wait_op>;
    using op_traits = std::allocator_traits<op_allocator>;

   public:
    /// Allocates the operation with the handler's allocator; `args` construct the Node.
    template <class H, class... Args>
    static async_wait_op* create(H&& handler, Args&&... args) {
        allocator_type alloc = boost::asio::get_associated_allocator(
            handler, boost::asio::recycling_allocator<void>());
        op_allocator a(alloc);
        async_wait_op* p = op_traits::allocate(a, 1);
        try {
            return ::new (static_cast<void*>(p))
                async_wait_op(alloc, std::forward<H>(handler), std::forward<Args>(args)...);
        } catch (...) {
            op_traits::deallocate(a, p, 1);
            throw;
        }
    }

    /// Connects the handler's cancellation slot, if it has one. Call before queueing.
    void arm_cancellation() {
        if (slot_.is_connected()) {
            slot_.template emplace<canceller>(this);
            armed_ = true;
        }
    }

    /// Ends the operation with `status`: posts the handler with the Node's completion_args.
    /// Never invokes it inline. The operation is freed when the handler runs.
    void complete(std::uint32_t status) noexcept {
        args_type args = Node::completion_args(status);
        executor_type ex = work_.get_executor();
        boost::asio::post(ex, completion{this, std::move(args)});
    }

   private:
    template <class H, class... Args>
    async_wait_op(const allocator_type& alloc, H&& handler, Args&&... args)
        : Node(std::forward<Args>(args)...),
          handler_(std::forward<H>(handler)),
          alloc_(alloc),
          work_(boost::asio::get_associated_executor(handler_, default_completion_executor())),
          slot_(boost::asio::get_associated_cancellation_slot(handler_)) {
        this->set_completion(&complete_thunk);
    }

    static void complete_thunk(wait_node* w) noexcept {
        auto* self = static_cast<async_wait_op*>(w);
        self->complete(self->status_relaxed());
    }

    struct canceller {
        async_wait_op* op;
        void operator()(boost::asio::cancellation_type_t type) const noexcept {
            using ct = boost::asio::cancellation_type;
            if ((type & (ct::terminal | ct::partial | ct::total)) == ct::none) return;
            if (static_cast<Node*>(op)->cancel_wait()) op->complete(wait_status::aborted);
        }
    };

    // The posted function: owns the operation and the results, so that if an executor
    // destroys it uninvoked (shutdown), the results (a lock, permits) are given back.
    struct completion {
        async_wait_op* op;
        args_type args;
        typename async_wait_op::allocator_type alloc;
        completion(async_wait_op* o, args_type&& a) noexcept
            : op(o),
              args(std::move(a)),
              alloc(o->alloc_) {}
        completion(completion&& o) noexcept
            : op(std::exchange(o.op, nullptr)),
              args(std::move(o.args)),
              alloc(o.alloc) {}
        completion& operator=(completion&&) = delete;
        ~completion() {
            if (op) op->destroy();
        }
        using allocator_type = typename async_wait_op::allocator_type;
        allocator_type get_allocator() const noexcept { return alloc; }
        void operator()() {
            async_wait_op* o = std::exchange(op, nullptr);
            Handler h(std::move(o->handler_));
            boost::asio::executor_work_guard<executor_type> work(std::move(o->work_));
            o->destroy();
            std::apply(std::move(h), std::move(args));
        }
    };

    void destroy() noexcept {
        if (armed_) slot_.clear();
        op_allocator a(alloc_);
        this->~async_wait_op();
        op_traits::deallocate(a, this, 1);
    }

    Handler handler_;
    allocator_type alloc_;
    boost::asio::executor_work_guard<executor_type> work_;
    slot_type slot_;
    bool armed_ = false;
};

/// async_wait_op for a handler type as async_initiate passes it.
template <class Node, class Handler>
using async_wait_op_for = async_wait_op<Node, std::decay_t<Handler>>;

}  // namespace weft::detail
