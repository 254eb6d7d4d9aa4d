// How a task (or plain thread) waits in a channel, on top of detail/wait_list.hpp.
//
// The channels use wait_list's nodes, lists, wake batches and Asio operation as they are. One
// thing differs from wait_for_grant(): when a grant and an abort race, the channels keep the
// grant instead of passing it on. wait_for_grant() always throws once the task is cancelled,
// so a waiter that was already granted must undo the grant; for a channel that is wrong or
// impossible: a send whose value is already in the buffer cannot be taken back (and throwing
// would tell the caller it was not sent), and a value handed to an aborted receiver could only
// go back to the front by overfilling a bounded buffer that other senders filled meanwhile.
// So this function returns a grant that raced the cancellation; the caller decides. A send
// keeps it (the value was sent). mpsc's and oneshot's receive, when the task was aborted,
// put the value back (mpsc: at the front of the buffer, which may then hold one more than
// the capacity) and throw, or return it if putting it back throws (give_back_if_aborted);
// past a deadline only, they return it (wait_list.hpp's contract).
// A select branch that lost is never granted a value in the first place: the sender claims
// for the receiver before handing it over (detail/select_claim.hpp).
//
// The wait paths the channels share are written here once: a waiter queued in a list
// (wait_queued: broadcast, watch, mpsc's senders), the single receiver parked in a state's
// `rx_waiter` (mpsc, oneshot: park, hand over, withdraw, end, give back), and a receiver whose
// heap cursor records its pending Asio wait (broadcast, watch).
#pragma once

#include <weft/channel/detail/misuse.hpp>
#include <weft/detail/assert.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>

#include <boost/asio/error.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft::detail::chan {

/// The argument type of an Asio completion carrying a T: T itself when default-constructible
/// (a default value accompanies an error), else std::optional<T> (docs/conventions.md).
template <class T>
using async_value_t = std::conditional_t<std::is_default_constructible_v<T>, T, std::optional<T>>;

/// Under `lk`, the channel's lock, for an Asio wait `op` that must not be queued because its
/// receiver has one pending already: unlocks, completes `op` with wait_status::aborted and
/// throws std::logic_error "`who`: used concurrently (a `wait` is pending)".
template <class Op, class Lock>
[[noreturn]] void refuse_concurrent_async(Op* op, Lock& lk, const char* who, const char* wait) {
    lk.unlock();
    op->complete(wait_status::aborted);
    throw_used_concurrently(who, wait);
}

/// Starts the Asio wait `op` of a channel whose initiation looks and queues under the
/// channel's lock `mu` (the slot is armed first, outside the lock: it may allocate). Under the
/// lock, with a wake_batch<N> declared before it (flushed after the unlock),
/// `poll_locked(wakes)` takes what is there into `op` and returns the final status, or
/// wait_status::waiting when there is nothing yet: then `park_locked(lk)` queues `op` (or
/// refuses it: refuse_concurrent_async). If poll_locked throws (T's move or copy), the
/// operation never started: `op` completes aborted and the exception propagates.
template <std::size_t N, class Op, class Lock, class Poll, class Park>
void start_async_wait(Op* op, Lock& mu, Poll&& poll_locked, Park&& park_locked) {
    op->arm_cancellation();
    std::uint32_t status;
    {
        wake_batch<N> wakes;
        std::unique_lock<Lock> lk(mu);
        try {
            status = poll_locked(wakes);
        } catch (...) {
            lk.unlock();
            op->complete(wait_status::aborted);
            throw;
        }
        if (status == wait_status::waiting) {
            park_locked(lk);
            return;
        }
    }
    op->complete(status);
}

// ---- The single receiver (mpsc, oneshot): `shared.rx_waiter` --------------------------

/// The waiter side of cancellation for the receiver parked in `shared.rx_waiter`: under the
/// channel's lock, unparks `node` if it is still the parked receiver (true: nothing was granted
/// to it); false when a granter ended its wait first.
template <class State, class Node>
bool withdraw_receiver(State& shared, Node& node) noexcept {
    std::lock_guard lk(shared.mu);
    if (shared.rx_waiter != &node) return false;
    shared.rx_waiter = nullptr;
    return true;
}

/// The Asio receive of a channel whose single receiver waits in its state's `rx_waiter`
/// (mpsc, oneshot): `Node` is the channel's receive node (a wait_node with an
/// `std::optional<T> value`), `StatePtr` keeps the state alive while the operation is pending.
/// Withdrawing unlinks it under the state's lock; it completes with the value, or
/// error::channel_closed, or operation_aborted.
template <class T, class Node, class StatePtr>
struct single_receiver_async_node : Node {
    explicit single_receiver_async_node(StatePtr s) noexcept
        : shared(std::move(s)) {}
    bool cancel_wait() noexcept { return withdraw_receiver(*shared, *this); }
    std::tuple<boost::system::error_code, async_value_t<T>> completion_args(
        std::uint32_t status) noexcept {
        if (status == wait_status::granted) {
            return {boost::system::error_code(), async_value_t<T>(std::move(*this->value))};
        }
        boost::system::error_code ec = status == wait_status::closed
                                           ? make_error_code(error::channel_closed)
                                           : make_error_code(boost::asio::error::operation_aborted);
        return {ec, async_value_t<T>{}};
    }

    StatePtr shared;
};

/// Under the lock of a channel with a single receiver (mpsc, oneshot: `shared.rx_waiter`): parks
/// `node` as that receiver, woken through `w` and claiming with `claimer`. std::logic_error
/// "`who`: used concurrently (a receive is pending)" when another receive is parked already.
template <class State, class Node>
void park_receiver_locked(State& shared, Node& node, waker w, const claim_record* claimer,
                          const char* who) {
    if (shared.rx_waiter != nullptr) {
        weft::detail::chan::throw_used_concurrently(who, "receive");
    }
    node.set_waker(std::move(w));
    node.set_claimer(claimer);
    shared.rx_waiter = &node;
}

/// Under `lk`, the channel's lock: parks the Asio receive `op` as the single receiver (it is
/// completed by a grant or withdrawn by its cancel_wait). When a receive is parked already,
/// refuse_concurrent_async: `op` completes aborted and this throws.
template <class State, class Op, class Lock>
void park_async_receiver_locked(State& shared, Op* op, Lock& lk, const char* who) {
    if (shared.rx_waiter != nullptr) refuse_concurrent_async(op, lk, who, "receive");
    shared.rx_waiter = op;
}

/// start_async_wait for the Asio receive `op` of a single-receiver channel: `poll_locked`
/// returns granted (a value moved into `op`), closed, or waiting (`op` parks as the receiver).
template <std::size_t N, class State, class Op, class Poll>
void start_async_receive(State& shared, Op* op, const char* who, Poll&& poll_locked) {
    start_async_wait<N>(op, shared.mu, std::forward<Poll>(poll_locked),
                        [&](auto& lk) { park_async_receiver_locked(shared, op, lk, who); });
}

/// Under the channel's lock, the granter's side: if a receiver is parked and its claim wins
/// (detail/select_claim.hpp), moves `v` into its node, unparks it, grants it and returns true.
/// If another branch of its select holds the race, the receiver is unparked and told `refused`
/// (it retries once the race reopens) and `v` is left for the caller to keep in the channel;
/// with no receiver parked, `v` is left too (false both ways). If T's move throws, the
/// receiver stays parked (a claim it won stands: it takes the next value) and the exception
/// propagates.
template <class State, class T, std::size_t N>
bool hand_to_receiver_locked(State& shared, T& v, wake_batch<N>& wakes) {
    auto* r = shared.rx_waiter;
    if (r == nullptr) return false;
    if (!r->try_claim()) {
        shared.rx_waiter = nullptr;
        wakes.grant(*r, wait_status::refused);
        return false;
    }
    r->value.emplace(std::move(v));
    shared.rx_waiter = nullptr;
    wakes.grant(*r, wait_status::granted);
    return true;
}

/// Under the channel's lock: ends the parked receiver's wait, if there is one, with `status`
/// (closed: no value will come; aborted: the receiving handle is gone).
template <class State, std::size_t N>
void end_receiver_wait_locked(State& shared, wake_batch<N>& wakes, std::uint32_t status) noexcept {
    if (auto* r = std::exchange(shared.rx_waiter, nullptr)) wakes.grant(*r, status);
}

/// After a grant to the single receiver `node`: if its task is being aborted, the value goes
/// back into the channel and this throws task_cancelled, since the aborted task would only
/// drop it (a select loser is never granted a value; a grant that only met a deadline is
/// returned: wait_list.hpp's contract). `put_back(T&&)` runs under the channel's lock and must
/// give the strong guarantee (mpsc: ring::push_front at the front of the buffer; oneshot:
/// emplacing into the empty slot). If it throws (an allocation, T's move), nothing was put
/// back and nothing is left half-done: the value is still in `node.value` (as far as T's move
/// leaves its source intact when it throws) and this returns normally, so the receive
/// returns the value rather than lose it; the task's next cancellation point throws.
template <class State, class Node, class PutBack>
void give_back_if_aborted(State& shared, Node& node, PutBack&& put_back) {
    if (!abort_requested()) return;
    {
        std::lock_guard lk(shared.mu);
        try {
            put_back(std::move(*node.value));
        } catch (...) {
            return;  // kept in `node`: the caller returns it
        }
    }
    throw_if_cancelled();
    WEFT_INVARIANT(false, "a requested abort throws");
}

/// Parks until `w` (queued, waker set, lock released) gets a final status, and returns it. On
/// cancellation calls `withdraw()`, which takes the owner's lock and unlinks `w` if it is still
/// queued (returns true: nothing was consumed, so this throws task_cancelled or
/// scope_cancelled) or returns false (granted meanwhile: the grant is kept and returned).
template <class Withdraw>
std::uint32_t wait_keep_grant(wait_node& w, const char* what, std::source_location where,
                              Withdraw&& withdraw, bool just_checked = true) {
    // When the caller passed a cancellation point (consume_budget) just before queueing, the
    // first park needs no check: an abort after that point wakes the task (a wake while it
    // runs is recorded and makes park return), and the check below sees it. Callers that wait
    // again in a loop pass just_checked = false.
    for (bool parked = !just_checked;; parked = true) {
        // Ordering: status() is an acquire load pairing with the granter's release.
        std::uint32_t s = w.status();
        if (s != wait_status::waiting) return s;
        if (parked && cancellation_requested()) {
            if (withdraw()) {
                throw_if_cancelled();
                WEFT_INVARIANT(false, "a requested cancellation throws");
            }
            continue;  // granted under the lock: the status is final now
        }
        park(what, where);
    }
}

/// wait_keep_grant for the single receiver `node` parked in `shared.rx_waiter`.
template <class State, class Node>
std::uint32_t wait_as_receiver(State& shared, Node& node, const char* what,
                               std::source_location where) {
    return wait_keep_grant(node, what, where, [&] { return withdraw_receiver(shared, node); });
}

// ---- Waiters queued in a list (broadcast, watch, mpsc's senders) -----------------------

/// wait_keep_grant for `w` queued in a wait_list under the lock `mu`: cancelled, it withdraws
/// with withdraw_if_queued.
template <class Lock>
std::uint32_t wait_queued(Lock& mu, wait_node& w, const char* what, std::source_location where,
                          bool just_checked = true) {
    return wait_keep_grant(
        w, what, where, [&] { return withdraw_if_queued(mu, w); }, just_checked);
}

// ---- Receivers with a heap cursor (broadcast, watch) ------------------------------------
// A cursor's `pending` is the receiver's queued Asio wait, if any (under the lock): a second
// wait of the same receiver, fiber or Asio, is a misuse (used concurrently).

/// Under the channel's lock: queues the fiber/thread wait `node` (woken through `w`) in
/// `list`, or throws "`who`: used concurrently" when the receiver's Asio wait is pending.
template <class Cursor, class Node>
void queue_cursor_waiter_locked(const Cursor& cur, wait_list<Node>& list, Node& node, waker w,
                                const char* who, const char* wait) {
    if (cur.pending != nullptr) throw_used_concurrently(who, wait);
    node.set_waker(std::move(w));
    list.push_back(node);
}

/// Under `lk`, the channel's lock: queues the Asio wait `op` in `list` as the cursor's pending
/// wait, or refuse_concurrent_async when one is pending already.
template <class Cursor, class Node, class Op, class Lock>
void park_async_cursor_locked(Cursor& cur, wait_list<Node>& list, Op* op, Lock& lk, const char* who,
                              const char* wait) {
    if (cur.pending != nullptr) refuse_concurrent_async(op, lk, who, wait);
    cur.pending = op;
    list.push_back(*op);
}

/// start_async_wait for the Asio wait `op` of a receiver with cursor `cur` on `shared`:
/// `poll_locked()` reads what is there into `op` and returns granted, or waiting (`op` is
/// queued in `shared.waiters` as the cursor's pending wait).
template <class State, class Cursor, class Op, class Poll>
void start_async_cursor_wait(State& shared, Cursor& cur, Op* op, const char* who, const char* wait,
                             Poll&& poll_locked) {
    start_async_wait<1>(
        op, shared.mu, [&](wake_batch<1>&) { return poll_locked(); },
        [&](auto& lk) { park_async_cursor_locked(cur, shared.waiters, op, lk, who, wait); });
}

/// The Asio wait of a receiver with a heap cursor (broadcast, watch): `Node` is the channel's
/// node (a wait_node with an `rx` cursor pointer), `StatePtr` keeps the state alive while the
/// operation is pending. Withdrawing unlinks it and clears the cursor's pending wait.
template <class Node, class StatePtr>
struct cursor_async_node : Node {
    cursor_async_node(StatePtr s, decltype(Node::rx) c) noexcept
        : shared(std::move(s)) {
        this->rx = c;
    }
    bool cancel_wait() noexcept {
        return withdraw_if_queued(shared->mu, *this,
                                  [this](auto&) noexcept { this->rx->pending = nullptr; });
    }

    StatePtr shared;
};

/// A receiving handle with state `shared` and cursor `cur` goes (nothing if moved from):
/// under the channel's lock, its pending Asio wait, if any, is unlinked and completes with
/// wait_status::aborted (after the unlock) and `drop_locked()` releases what the receiver
/// held; then the handle lets go of both.
template <class StatePtr, class CursorPtr, class Drop>
void drop_cursor_receiver(StatePtr& shared, CursorPtr& cur, Drop&& drop_locked) noexcept {
    if (!shared) return;
    {
        wake_batch<1> wakes;  // declared first: the abort is delivered after the unlock
        std::lock_guard lk(shared->mu);
        if (wait_node* n = std::exchange(cur->pending, nullptr)) {
            n->remove();
            wakes.grant(*n, wait_status::aborted);
        }
        drop_locked();
    }
    shared.reset();
    cur.reset();
}

}  // namespace weft::detail::chan
