// weft::barrier: n tasks wait for each other, generation after generation (Tokio's
// sync::Barrier).
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/wait_list.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>

#include <cstddef>
#include <cstdint>
#include <source_location>
#include <tuple>

namespace weft {

/// Lets `n` tasks (or threads) wait until all of them have arrived. The barrier is reusable:
/// once the n-th arrives, all n are released and the next generation starts empty. Exactly
/// one waiter per generation, the last to arrive, is the leader: its wait() returns true.
/// A barrier of 0 behaves like a barrier of 1.
///
/// ```cpp
/// weft::barrier start_line(3);
/// // in each of 3 tasks:
/// if (start_line.wait()) log("all three arrived");  // exactly one of them is the leader
/// ```
class barrier {
   public:
    /// A barrier for `n` participants (n >= 1): every n-th wait() releases the n waiters.
    explicit barrier(std::size_t n) noexcept
        : n_(n == 0 ? 1 : n) {}
    barrier(const barrier&) = delete;
    barrier& operator=(const barrier&) = delete;

    /// Arrives and waits for the rest of this generation; true for the generation's leader.
    /// std::logic_error if it would have to wait on a worker thread outside a task (before
    /// arriving).
    /// **Cancellation**: a cancellation point, and not cancel-safe (as Tokio's): an abort
    /// before arriving throws without arriving, but a task aborted while waiting has already
    /// been counted; it throws task_cancelled and its generation completes without it
    /// waiting (the others are still released when the n-th arrives).
    bool wait(std::source_location where = std::source_location::current());

    /// Asio form of wait(): `void(error_code, bool is_leader)`. Never completes inline.
    /// **Cancellation**: not cancel-safe. Terminal, partial and total cancellation through
    /// the handler's slot complete it with asio::error::operation_aborted, but the arrival
    /// stays counted.
    template <class CompletionToken>
    auto async_wait(CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, bool)>(
            [](auto handler, barrier* self) {
                using op = detail::async_wait_op_for<waiter_node, decltype(handler)>;
                op* o = op::create(std::move(handler), self);
                detail::arm_and_enqueue(*o, [self](op& queued) noexcept {
                    return self->arrive(queued) ? leader : detail::wait_status::waiting;
                });
            },
            token, this);
    }

    /// Tasks per generation.
    [[nodiscard]] std::size_t size() const noexcept { return n_; }

   private:
    static constexpr std::uint32_t leader = detail::wait_status::user;

    struct waiter_node : detail::wait_node {
        explicit waiter_node(barrier* b) noexcept
            : owner(b) {}
        bool cancel_wait() noexcept { return owner->cancel(*this); }
        std::tuple<boost::system::error_code, bool> completion_args(std::uint32_t s) noexcept {
            if (s == detail::wait_status::aborted) {
                return {boost::asio::error::operation_aborted, false};
            }
            return {boost::system::error_code(), s == leader};
        }
        barrier* owner;
    };

    // Counts the arrival; the n-th releases everyone queued and returns true, others queue
    // `w` and return false.
    bool arrive(waiter_node& w) noexcept;
    bool cancel(waiter_node& w) noexcept;

    const std::size_t n_;
    detail::spin_lock mu_;
    std::size_t arrived_ = 0;
    detail::wait_list<waiter_node> waiters_;
};

}  // namespace weft
