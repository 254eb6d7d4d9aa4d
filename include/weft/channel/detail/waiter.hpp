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
// the capacity) and throw; past a deadline only, they return it (wait_list.hpp's contract).
// A select branch that lost is never granted a value in the first place: the sender claims
// for the receiver before handing it over (detail/select_claim.hpp).
#pragma once

#include <weft/channel/detail/misuse.hpp>
#include <weft/detail/assert.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>

#include <boost/asio/error.hpp>

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

/// The Asio receive of a channel whose single receiver waits in its state's `rx_waiter`
/// (mpsc, oneshot): `Node` is the channel's receive node (a wait_node with an
/// `std::optional<T> value`), `StatePtr` keeps the state alive while the operation is pending.
/// Withdrawing unlinks it under the state's lock; it completes with the value, or
/// error::channel_closed, or operation_aborted.
template <class T, class Node, class StatePtr>
struct single_receiver_async_node : Node {
    explicit single_receiver_async_node(StatePtr s) noexcept
        : shared(std::move(s)) {}
    bool cancel_wait() noexcept {
        std::lock_guard lk(shared->mu);
        if (shared->rx_waiter != this) return false;
        shared->rx_waiter = nullptr;
        return true;
    }
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

/// The waiter side of cancellation for that receiver: under the channel's lock, unparks
/// `node` if it is still the parked receiver (true: nothing was granted to it); false when a
/// granter ended its wait first.
template <class State, class Node>
bool withdraw_receiver(State& shared, Node& node) noexcept {
    std::lock_guard lk(shared.mu);
    if (shared.rx_waiter != &node) return false;
    shared.rx_waiter = nullptr;
    return true;
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

}  // namespace weft::detail::chan
