// weft::oneshot: a channel for exactly one value (Tokio's tokio::sync::oneshot).
//
//   auto [tx, rx] = weft::oneshot::channel<int>();
//   weft::spawn([tx = std::move(tx)]() mutable { tx.send(compute()); });
//   int v = rx.recv();          // channel_closed if the sender was destroyed without sending
//
// State (one short spin lock): the value slot, whether the sender is done (sent or destroyed),
// whether the receiver is gone (also atomic, for is_closed()), and the receiver's parked node,
// into which a send hands the value directly. Cancel-safety: the node gets the value only under
// the lock and an aborted receiver withdraws its node under the same lock, so the value is
// either still in the slot or returned by the recv that got it; a recv that got it as its task
// was aborted puts it back in the slot, or returns it if that throws (waiter.hpp:
// give_back_if_aborted). T needs only a move constructor: the value is constructed in place
// wherever it moves, never assigned.
#pragma once

#include <weft/channel/detail/misuse.hpp>
#include <weft/channel/detail/waiter.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft::detail::chan {

template <class T>
struct oneshot_node : wait_node {
    std::optional<T> value;  // filled by the grant (status granted)
};

template <class T>
struct oneshot_state : boost::intrusive_ref_counter<oneshot_state<T>, boost::thread_safe_counter> {
    static_assert(std::is_move_constructible_v<T>, "weft::oneshot: T must be move-constructible");
    ~oneshot_state() { WEFT_ASSERT(rx_waiter == nullptr, "a oneshot dies with a waiter"); }

    spin_lock mu;
    std::optional<T> value;
    bool tx_done = false;  // sent, or the sender is gone
    std::atomic<bool> rx_gone{false};
    oneshot_node<T>* rx_waiter = nullptr;

    /// Under mu: takes the value; nullopt when none (yet). `closed` tells whether one can
    /// still come.
    std::optional<T> take_locked(bool& closed) {
        std::optional<T> v;
        take_into_locked(v, closed);
        return v;
    }
    /// take_locked into an empty `out`, moving T once and constructing it in place (T needs
    /// only a move constructor). Returns whether there was a value.
    bool take_into_locked(std::optional<T>& out, bool& closed) {
        closed = false;
        if (value) {
            out.emplace(std::move(*value));
            value.reset();
            return true;
        }
        closed = tx_done;
        return false;
    }
};

template <class T>
using oneshot_ptr = boost::intrusive_ptr<oneshot_state<T>>;

template <class T>
using oneshot_async_node = single_receiver_async_node<T, oneshot_node<T>, oneshot_ptr<T>>;

template <class T>
struct oneshot_initiate_recv {
    oneshot_ptr<T> shared;
    template <class Handler>
    void operator()(Handler&& h) const {
        using op_t = async_wait_op_for<oneshot_async_node<T>, Handler>;
        op_t* op = op_t::create(std::forward<Handler>(h), shared);
        start_async_receive<1>(*shared, op, "weft::oneshot::receiver", [&](wake_batch<1>&) {
            bool closed;
            if (shared->take_into_locked(op->value, closed)) return wait_status::granted;
            return closed ? wait_status::closed : wait_status::waiting;
        });
    }
};

}  // namespace weft::detail::chan

namespace weft::oneshot {

template <class T>
class receiver;

/// The sending half: movable, used once. Destroying it unsent closes the channel.
template <class T>
class sender {
   public:
    /// Takes over `o`'s end of the channel; `o` becomes empty.
    sender(sender&&) noexcept = default;
    /// Drops this sender's end (as the destructor: unsent, the receiver sees channel_closed),
    /// then takes over `o`'s.
    sender& operator=(sender&& o) noexcept {
        if (this != &o) {
            reset();
            shared_ = std::move(o.shared_);
        }
        return *this;
    }
    sender(const sender&) = delete;
    sender& operator=(const sender&) = delete;
    ~sender() { reset(); }

    /// Sends the value and uses up the sender. Returns false (the value is destroyed) when the
    /// receiver is gone. Never suspends. std::logic_error if the sender was used already.
    bool send(T value) {
        namespace chan = weft::detail::chan;
        if (!shared_) throw std::logic_error("weft::oneshot::sender: already used or moved from");
        chan::oneshot_ptr<T> shared = std::move(shared_);
        weft::detail::wake_batch<1> wakes;
        std::unique_lock lk(shared->mu);
        shared->tx_done = true;
        if (shared->rx_gone.load(std::memory_order_relaxed)) {
            lk.unlock();
            return false;  // `value` dies here, outside the lock
        }
        if (chan::hand_to_receiver_locked(*shared, value, wakes)) return true;
        // No receiver parked, or another branch of its select holds the race (it was told so
        // and retries once the race reopens): the value stays in the channel.
        shared->value.emplace(std::move(value));
        return true;
    }

    /// True once the receiver is gone: a send would fail.
    [[nodiscard]] bool is_closed() const noexcept {
        // Ordering: acquire pairs with the receiver's release when it goes.
        return !shared_ || shared_->rx_gone.load(std::memory_order_acquire);
    }

   private:
    template <class U>
    friend std::pair<sender<U>, receiver<U>> channel();
    explicit sender(weft::detail::chan::oneshot_ptr<T> shared) noexcept
        : shared_(std::move(shared)) {}
    void reset() noexcept {
        if (!shared_) return;
        weft::detail::wake_batch<1> wakes;
        std::unique_lock lk(shared_->mu);
        shared_->tx_done = true;
        weft::detail::chan::end_receiver_wait_locked(*shared_, wakes,
                                                     weft::detail::wait_status::closed);
        lk.unlock();
        wakes.flush();
        shared_.reset();
    }

    weft::detail::chan::oneshot_ptr<T> shared_;
};

/// The receiving half: movable, single owner.
template <class T>
class receiver {
   public:
    /// Takes over `o`'s end of the channel; `o` becomes empty.
    receiver(receiver&&) noexcept = default;
    /// Drops this receiver's end (as the destructor), then takes over `o`'s.
    receiver& operator=(receiver&& o) noexcept {
        if (this != &o) {
            reset();
            shared_ = std::move(o.shared_);
        }
        return *this;
    }
    receiver(const receiver&) = delete;
    receiver& operator=(const receiver&) = delete;
    ~receiver() { reset(); }

    /// Waits for the value and returns it. Throws channel_closed if the sender was destroyed
    /// without sending (or the value was already received).
    /// **Cancellation**: cancel-safe. An abort (or a timeout, or losing a select) while
    /// waiting throws and the value stays in the channel for a later recv, also when it
    /// reached this receiver as its task was being aborted. A select branch takes the value
    /// only once it has won the select; a value granted as a timeout's deadline passes is
    /// returned (the next cancellation point throws).
    T recv(std::source_location where = std::source_location::current()) {
        namespace chan = weft::detail::chan;
        namespace ws = weft::detail::wait_status;
        chan::oneshot_state<T>& shared = state();
        weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
        weft::detail::consume_budget(where);
        for (;;) {  // a refused select branch retries from here once the race reopens
            const weft::detail::claim_record* claimer = weft::detail::current_claimer();
            chan::oneshot_node<T> node;
            {
                std::unique_lock lk(shared.mu);
                if (shared.value && !weft::detail::claim_select(claimer)) {
                    lk.unlock();
                    weft::detail::wait_reopened("oneshot::recv", where);  // took nothing
                    continue;
                }
                bool closed;
                std::optional<T> v = shared.take_locked(closed);
                if (v) return std::move(*v);
                if (closed) throw channel_closed("weft::oneshot: the sender was dropped unsent");
                chan::park_receiver_locked(
                    shared, node, weft::detail::current_waker("weft::oneshot::receiver::recv"),
                    claimer, receiver_name);
            }
            std::uint32_t s = chan::wait_as_receiver(shared, node, "oneshot::recv", where);
            if (s == ws::refused) {
                weft::detail::wait_reopened("oneshot::recv", where);
                continue;
            }
            if (s != ws::granted) {
                throw channel_closed("weft::oneshot: the sender was dropped unsent");
            }
            // Handed over as this task was being aborted: the value goes back to the (empty)
            // slot for a later recv, and this one throws; if that fails, it is returned.
            chan::give_back_if_aborted(shared, node,
                                       [&](T&& v) { shared.value.emplace(std::move(v)); });
            return std::move(*node.value);
        }
    }

    /// recv() as an operation of weft::select over operations (no fiber of its own):
    /// `weft::select(reply_rx.recv_op(), weft::sleep_for_op(1s))`. Completes with the value;
    /// throws channel_closed (from the select) when it wins because the sender was dropped
    /// unsent.
    class recv_operation {
       public:
        /// What weft::select returns at this operation's index.
        using value_type = T;
        recv_operation(const recv_operation&) = delete;
        recv_operation& operator=(const recv_operation&) = delete;

        /// The select_op protocol (weft/detail/select_op.hpp); called by weft::select only.
        std::uint32_t start(const weft::detail::claim_record* rec, const weft::detail::waker& w) {
            namespace ws = weft::detail::wait_status;
            std::unique_lock lk(shared_->mu);
            if (shared_->value && !weft::detail::claim_select(rec)) return ws::refused;
            bool closed;
            if (shared_->take_into_locked(value_, closed)) return ws::granted;
            if (closed) return ws::closed;
            weft::detail::chan::park_receiver_locked(*shared_, node_.emplace(), w.clone(), rec,
                                                     receiver_name);
            return ws::waiting;
        }
        /// The select_op protocol: the status of the queued waiter.
        [[nodiscard]] std::uint32_t status() const noexcept { return node_->status(); }
        /// The select_op protocol: leaves the queue (true if it was still queued).
        bool withdraw() noexcept { return weft::detail::chan::withdraw_receiver(*shared_, *node_); }
        /// The select_op protocol: the winner's result.
        value_type finish(std::uint32_t s) {
            if (value_) return std::move(*value_);
            if (s == weft::detail::wait_status::granted) return std::move(*node_->value);
            throw channel_closed("weft::oneshot: the sender was dropped unsent");
        }

       private:
        friend class receiver;
        explicit recv_operation(weft::detail::chan::oneshot_state<T>& shared) noexcept
            : shared_(&shared) {}
        weft::detail::chan::oneshot_state<T>* shared_;
        std::optional<T> value_;  // taken at start
        std::optional<weft::detail::chan::oneshot_node<T>> node_;
    };

    /// recv() for weft::select over operations: see recv_operation.
    /// **Cancellation**: as recv (weft::select over operations).
    [[nodiscard]] recv_operation recv_op() { return recv_operation(state()); }

    /// The value if it was sent; std::nullopt while it may still come. Throws channel_closed
    /// if the sender was destroyed unsent (or the value was already received). Never suspends.
    /// In a select branch that lost the race, takes nothing (std::nullopt).
    std::optional<T> try_recv() {
        chan_state& shared = state();
        std::unique_lock lk(shared.mu);
        // In a select branch, only once it holds the race: a loser leaves the value.
        if (shared.value && !weft::detail::claim_for_try()) return std::nullopt;
        bool closed;
        std::optional<T> v = shared.take_locked(closed);
        if (!v && closed) throw channel_closed("weft::oneshot: the sender was dropped unsent");
        return v;
    }

    /// Asio form of recv: void(error_code, T) (T not default-constructible:
    /// std::optional<T>); error::channel_closed if the sender was destroyed unsent.
    /// Cancellation through the handler's slot completes with operation_aborted and leaves the
    /// value in the channel. Destroying the receiver aborts a pending one.
    template <boost::asio::completion_token_for<void(boost::system::error_code,
                                                     weft::detail::chan::async_value_t<T>)>
                  Token>
    auto async_recv(Token&& token) {
        namespace chan = weft::detail::chan;
        return boost::asio::async_initiate<Token,
                                           void(boost::system::error_code, chan::async_value_t<T>)>(
            chan::oneshot_initiate_recv<T>{chan::oneshot_ptr<T>(&state())}, token);
    }

   private:
    using chan_state = weft::detail::chan::oneshot_state<T>;
    static constexpr const char* receiver_name = "weft::oneshot::receiver";
    template <class U>
    friend std::pair<sender<U>, receiver<U>> channel();
    explicit receiver(weft::detail::chan::oneshot_ptr<T> shared) noexcept
        : shared_(std::move(shared)) {}
    chan_state& state() const {
        if (!shared_) weft::detail::chan::throw_moved_from("weft::oneshot::receiver");
        return *shared_;
    }
    void reset() noexcept {
        if (!shared_) return;
        std::optional<T> dropped;
        {
            weft::detail::wake_batch<1> wakes;
            std::unique_lock lk(shared_->mu);
            // Ordering: release pairs with sender::is_closed()'s acquire.
            shared_->rx_gone.store(true, std::memory_order_release);
            bool closed;
            shared_->take_into_locked(dropped, closed);
            weft::detail::chan::end_receiver_wait_locked(*shared_, wakes,
                                                         weft::detail::wait_status::aborted);
        }
        shared_.reset();
    }

    weft::detail::chan::oneshot_ptr<T> shared_;
};

/// Creates a oneshot channel.
///
/// ```cpp
/// auto [reply_tx, reply_rx] = weft::oneshot::channel<int>();
/// weft::spawn([tx = std::move(reply_tx)]() mutable { tx.send(42); });
/// int reply = reply_rx.recv();  // channel_closed if the sender is dropped unsent
/// ```
template <class T>
std::pair<sender<T>, receiver<T>> channel() {
    weft::detail::chan::oneshot_ptr<T> shared(new weft::detail::chan::oneshot_state<T>());
    return {sender<T>(shared), receiver<T>(shared)};
}

}  // namespace weft::oneshot
