// select_op: the protocol between weft::select over operations (task/detail/select_ops.hpp)
// and the primitives whose operations it races (mpsc, oneshot and broadcast recv_op, notify
// notified_op, cancellation_token cancelled_op, interval tick_op, sleep_until_op). Not for
// users.
//
// A select over callables runs each branch on a fiber of its own; a select over operations
// runs none. The caller's fiber starts each operation in turn, each queues a waiter the way
// its blocking form would (detail/wait_list.hpp), and the caller parks once for all of them.
// The race is decided the way every select decides it (detail/select_claim.hpp): the select
// owns a select_race, and operation i carries a claim_record {race, i} that its waiter claims
// with. So a consuming operation (a receive, a notification) is granted only by claiming the
// race first, under the primitive's lock: a second operation that becomes ready in the same
// instant is refused and leaves its value where it was.
//
// What an operation type Op provides (the concept select_op_protocol below):
//   typename Op::value_type
//       What the select returns at this operation's index (std::monostate for nothing).
//   std::uint32_t start(const claim_record* rec, const waker& w)
//       On the caller's fiber. If the operation can complete now, a consuming one claims with
//       `rec` first (claim_select): refused, it takes nothing and returns wait_status::refused;
//       claimed, it takes what it completes with and returns a final status (granted, closed,
//       or its own). An operation that consumes nothing (a closed channel, a fired timer, a
//       cancelled token) returns its final status without claiming: the select claims for it
//       when it sees the status. Otherwise the operation queues a waiter carrying `rec` as its
//       claimer and a clone of `w`, and returns wait_status::waiting. May throw: then nothing
//       is queued. Called again after withdraw() when the select starts over.
//   std::uint32_t status() const noexcept
//       A queued operation's status now: waiting, or the final status its granter gave it.
//       An acquire: what the granter wrote before it is visible after a final status.
//   bool withdraw() noexcept
//       A queued operation leaves its queue, under the primitive's lock: true when it was
//       still queued (it took nothing, and nothing will end it any more), false when a
//       granter ended it first (status() is final then).
//   value_type finish(std::uint32_t status)
//       The winner only, once, with its final status: its result. An operation whose taking
//       is a change of its own state (an interval's schedule) makes it here, so only the
//       winner changes anything.
//
// Invariants: at most one operation of a select is granted something that consumes (each
// grant claims the race first); a loser's waiter is either withdrawn while queued, or was
// refused (took nothing), or ended without consuming. The select's frame (its race, the
// records, the operations' waiters) outlives every waiter: withdraw() returning, or a final
// status seen, means its primitive no longer refers to it.
#pragma once

#include <weft/detail/select_claim.hpp>
#include <weft/detail/wait_status.hpp>
#include <weft/detail/waker.hpp>

#include <concepts>
#include <cstdint>

namespace weft::detail {

template <class Op>
concept select_op_protocol = requires(Op& op, const Op& cop, const claim_record* rec,
                                      const waker& w, std::uint32_t s) {
    typename Op::value_type;
    { op.start(rec, w) } -> std::same_as<std::uint32_t>;
    { cop.status() }
    noexcept->std::same_as<std::uint32_t>;
    { op.withdraw() }
    noexcept->std::same_as<bool>;
    { op.finish(s) } -> std::same_as<typename Op::value_type>;
};

}  // namespace weft::detail
