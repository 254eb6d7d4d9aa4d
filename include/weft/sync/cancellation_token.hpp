// weft::cancellation_token: a shareable "please stop" flag that tasks can wait on, with child
// tokens cancelled together with their parent (tokio_util's CancellationToken).
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/wait_list.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <tuple>
#include <variant>

namespace weft {

/// A cancellation flag shared by its copies. cancel() sets it for good and wakes every task
/// waiting in cancelled(); it also cancels every child token (child_token()), recursively,
/// but never the parent. Copies refer to the same token; a default-constructed token is a
/// new root. Cheap to copy (a shared pointer); safe from any thread or task.
///
/// ```cpp
/// weft::cancellation_token stop;
/// auto worker = weft::spawn([t = stop.child_token()] { while (!t.is_cancelled()) step(); });
/// stop.cancel();
/// ```
class cancellation_token {
   public:
    /// A new root token, not cancelled.
    cancellation_token();
    /// Another reference to the same token: cancelling either cancels both.
    cancellation_token(const cancellation_token&) noexcept = default;
    /// Refers to `o`'s token instead.
    cancellation_token& operator=(const cancellation_token&) noexcept = default;
    // Moving copies, so a moved-from token still refers to its token (never empty).
    /// Same as a copy: `o` still refers to its token.
    cancellation_token(cancellation_token&& o) noexcept
        : state_(o.state_) {}
    /// Same as a copy assignment: `o` still refers to its token.
    cancellation_token& operator=(cancellation_token&& o) noexcept {
        state_ = o.state_;
        return *this;
    }
    ~cancellation_token() = default;

    /// Cancels this token and all its descendants; wakes their waiters. Idempotent.
    void cancel() const noexcept;
    /// True once cancel() was called on this token or on any ancestor.
    [[nodiscard]] bool is_cancelled() const noexcept;

    /// Waits until the token is cancelled (returns at once if it is). A cooperative
    /// scheduling point. std::logic_error if it would have to wait on a worker thread outside
    /// a task (use async_cancelled there).
    /// **Cancellation**: cancel-safe (waiting consumes nothing); an aborted task throws
    /// task_cancelled.
    void cancelled(std::source_location where = std::source_location::current()) const;

    class cancelled_operation;

    /// cancelled() as an operation of weft::select over operations (no fiber of its own):
    /// `weft::select(rx.recv_op(), stop.cancelled_op())`.
    /// **Cancellation**: as cancelled() (weft::select over operations).
    [[nodiscard]] cancelled_operation cancelled_op() const;

    /// A new token cancelled when this one is (at once if it already is); cancelling the
    /// child does not cancel this one. The child keeps its ancestors alive.
    [[nodiscard]] cancellation_token child_token() const;

    /// Asio form of cancelled(): `void(error_code)`.
    /// **Cancellation**: terminal, partial and total cancellation through the handler's slot
    /// complete it with asio::error::operation_aborted.
    template <class CompletionToken>
    auto async_cancelled(CompletionToken&& token) const {
        return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
            [](auto handler, std::shared_ptr<token_state> n) {
                using op = detail::async_wait_op_for<async_node, decltype(handler)>;
                op* o = op::create(std::move(handler), std::move(n));
                if (is_cancelled(*o->owner)) {
                    o->complete(detail::wait_status::granted);
                    return;
                }
                // enqueue: waiting, or granted when cancelled meanwhile.
                detail::arm_and_enqueue(
                    *o, [](op& queued) noexcept { return enqueue(*queued.owner, queued); });
            },
            token, state_);
    }

    /// True if both refer to the same token.
    friend bool operator==(const cancellation_token& a, const cancellation_token& b) noexcept {
        return a.state_ == b.state_;
    }

   private:
    struct token_state;
    explicit cancellation_token(std::shared_ptr<token_state> n) noexcept
        : state_(std::move(n)) {}

    struct waiter_node : detail::wait_node {
        explicit waiter_node(std::shared_ptr<token_state> n) noexcept
            : owner(std::move(n)) {}
        bool cancel_wait() noexcept { return cancel_waiter(*owner, *this); }
        std::shared_ptr<token_state> owner;  // keeps the token alive while an Asio wait is pending
    };
    struct async_node : waiter_node {
        using waiter_node::waiter_node;
        std::tuple<boost::system::error_code> completion_args(std::uint32_t s) noexcept {
            if (s == detail::wait_status::aborted) return {boost::asio::error::operation_aborted};
            return {boost::system::error_code()};
        }
    };

    static bool is_cancelled(const token_state& n) noexcept;
    // Under the token's lock: granted if already cancelled, else queues `w` (waiting).
    static std::uint32_t enqueue(token_state& n, waiter_node& w) noexcept;
    static bool cancel_waiter(token_state& n, waiter_node& w) noexcept;

    std::shared_ptr<token_state> state_;
};

/// What cancellation_token::cancelled_op() returns: one cancelled() for weft::select over
/// operations. It consumes nothing, so it never claims: the select claims for it when it
/// sees the token cancelled.
class cancellation_token::cancelled_operation {
   public:
    /// What weft::select returns at this operation's index.
    using value_type = std::monostate;
    cancelled_operation(const cancelled_operation&) = delete;
    cancelled_operation& operator=(const cancelled_operation&) = delete;

    /// The select_op protocol (weft/detail/select_op.hpp); called by weft::select only.
    std::uint32_t start(const detail::claim_record*, const detail::waker& w) {
        if (is_cancelled(*state_)) return detail::wait_status::granted;
        waiter_node& node = node_.emplace(state_);
        node.set_waker(w.clone());
        return enqueue(*state_, node);
    }
    /// The select_op protocol: the status of the queued waiter.
    [[nodiscard]] std::uint32_t status() const noexcept { return node_->status(); }
    /// The select_op protocol: leaves the queue (true if it was still queued).
    bool withdraw() noexcept { return cancel_waiter(*state_, *node_); }
    /// The select_op protocol: the winner's result.
    value_type finish(std::uint32_t) noexcept { return {}; }

   private:
    friend class cancellation_token;
    explicit cancelled_operation(std::shared_ptr<token_state> st) noexcept
        : state_(std::move(st)) {}
    std::shared_ptr<token_state> state_;
    std::optional<waiter_node> node_;
};

inline cancellation_token::cancelled_operation cancellation_token::cancelled_op() const {
    return cancelled_operation(state_);
}

}  // namespace weft
