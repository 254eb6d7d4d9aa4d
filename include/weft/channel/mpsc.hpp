// weft::mpsc: multi-producer, single-consumer FIFO channels (Tokio's tokio::sync::mpsc), bounded
// (send waits while the buffer is full: backpressure) and unbounded (send never waits).
//
//   auto [tx, rx] = weft::mpsc::channel<int>(16);
//   weft::spawn([tx = tx] { for (int i = 0; i < 100; ++i) tx.send(i); });
//   while (std::optional<int> v = rx.recv()) use(*v);   // ends when every sender is gone
//
// The state, its lock and the cancel-safety argument are described in detail/mpsc_state.hpp.
#pragma once

#include <weft/channel/detail/misuse.hpp>
#include <weft/channel/detail/mpsc_state.hpp>
#include <weft/channel/send_error.hpp>

#include <boost/asio/async_result.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <utility>
#include <vector>

namespace weft::mpsc {

template <class T>
class receiver;
template <class T>
class unbounded_receiver;

}  // namespace weft::mpsc

namespace weft::detail::chan {

/// What bounded and unbounded senders share. Copyable: every copy is a sender; the channel
/// closes for the receiver when the last one is destroyed. Safe to use from any thread or task.
template <class T>
class mpsc_sender_base {
   public:
    /// Sends `value` if that needs no waiting: `ok`; `full` (bounded channel at capacity) or
    /// `closed` (receiver gone or closed) leave `value` untouched. Never suspends.
    mpsc::send_status try_send(T&& value) const {
        chan::mpsc_state<T>& shared = state();
        wake_batch<1> wakes;
        chan::lock_t lk(shared.mu);
        mpsc::send_status s = shared.try_send_locked(value, wakes);
        lk.unlock();
        return s;
    }

    /// True once the receiver is gone or has called close(): every later send fails.
    [[nodiscard]] bool is_closed() const {
        // Ordering: acquire pairs with the release in close_and_unlock().
        return state().rx_closed.load(std::memory_order_acquire);
    }

    /// Waits until the receiver is gone or has closed the channel.
    /// **Cancellation**: cancel-safe; an abort while waiting throws task_cancelled and
    /// consumes nothing.
    void closed(std::source_location where = std::source_location::current()) const {
        chan::mpsc_state<T>& shared = state();
        weft::detail::consume_budget(where);
        weft::detail::wait_node node;
        {
            chan::lock_t lk(shared.mu);
            if (shared.rx_closed.load(std::memory_order_relaxed)) return;
            node.set_waker(weft::detail::current_waker("weft::mpsc::sender::closed"));
            shared.closed_waiters.push_back(node);
        }
        chan::wait_queued(shared.mu, node, "mpsc::closed", where);
    }

    /// Asio form of closed(): completes with void(error_code) once the receiver is gone.
    /// Cancellation through the handler's slot completes with operation_aborted.
    template <boost::asio::completion_token_for<void(boost::system::error_code)> Token>
    auto async_closed(Token&& token) const {
        return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
            initiate_closed{chan::mpsc_ptr<T>(&state())}, token);
    }

    /// True when both senders feed the same channel.
    [[nodiscard]] bool same_channel(const mpsc_sender_base& o) const noexcept {
        return tx_.get() == o.tx_.get();
    }

    /// Asio form of send: completes with void(error_code, std::optional<T>) once the value is
    /// in the channel (ec clear, nullopt; on an unbounded channel at once, posted), or with
    /// error::channel_closed and the value back if the receiver is gone. Cancellation through
    /// the handler's slot (while a bounded channel is full) completes with operation_aborted,
    /// the value back, and nothing sent. A pending async_send keeps the channel open like a
    /// sender.
    template <
        boost::asio::completion_token_for<void(boost::system::error_code, std::optional<T>)> Token>
    auto async_send(T value, Token&& token) const {
        state();
        return boost::asio::async_initiate<Token,
                                           void(boost::system::error_code, std::optional<T>)>(
            chan::initiate_send<T>{tx_}, token, std::move(value));
    }

   protected:
    explicit mpsc_sender_base(chan::sender_ref<T> tx) noexcept
        : tx_(std::move(tx)) {}

    chan::mpsc_state<T>& state() const {
        if (!tx_) weft::detail::chan::throw_moved_from("weft::mpsc::sender");
        return *tx_.get();
    }

    chan::sender_ref<T> tx_;

   private:
    struct closed_op_node : weft::detail::wait_node {
        explicit closed_op_node(chan::mpsc_ptr<T> s) noexcept
            : shared(std::move(s)) {}
        bool cancel_wait() noexcept { return weft::detail::withdraw_if_queued(shared->mu, *this); }
        std::tuple<boost::system::error_code> completion_args(std::uint32_t status) noexcept {
            if (status == wait_status::aborted) {
                return std::make_tuple(make_error_code(boost::asio::error::operation_aborted));
            }
            return std::tuple<boost::system::error_code>();
        }
        chan::mpsc_ptr<T> shared;
    };
    struct initiate_closed {
        chan::mpsc_ptr<T> shared;
        template <class Handler>
        void operator()(Handler&& h) const {
            using op_t = weft::detail::async_wait_op_for<closed_op_node, Handler>;
            op_t* op = op_t::create(std::forward<Handler>(h), shared);
            op->arm_cancellation();
            {
                chan::lock_t lk(shared->mu);
                if (!shared->rx_closed.load(std::memory_order_relaxed)) {
                    shared->closed_waiters.push_back(*op);
                    return;
                }
            }
            op->complete(wait_status::granted);
        }
    };
};

/// What bounded and unbounded receivers share. Movable, single owner: never used from two
/// tasks at once. Destroying it closes the channel and drops the values still buffered.
template <class T>
class mpsc_receiver_base {
   public:
    mpsc_receiver_base(mpsc_receiver_base&&) noexcept = default;
    mpsc_receiver_base& operator=(mpsc_receiver_base&& o) noexcept {
        if (this != &o) {
            reset();
            shared_ = std::move(o.shared_);
        }
        return *this;
    }
    mpsc_receiver_base(const mpsc_receiver_base&) = delete;
    mpsc_receiver_base& operator=(const mpsc_receiver_base&) = delete;
    ~mpsc_receiver_base() { reset(); }

    /// Receives the next value, waiting while the channel is empty. Returns std::nullopt once
    /// every sender is gone (or close() was called) and the buffer is drained.
    /// **Cancellation**: cancel-safe. An abort (or a timeout, or losing a select) while waiting
    /// throws and consumes nothing: a select branch takes a value only once it has won the
    /// select, and a value that reached this receiver as its task was being aborted goes back
    /// to the front of the channel. A value granted as a timeout's deadline passes is
    /// returned (the next cancellation point throws).
    std::optional<T> recv(std::source_location where = std::source_location::current()) {
        chan::mpsc_state<T>& shared = state();
        const weft::detail::claim_record* claimer = begin_receive(where);
        for (bool retry = false;; retry = true) {  // a refused branch retries once it reopens
            if (retry) claimer = weft::detail::current_claimer();
            chan::rx_node<T> node;
            {
                wake_batch<1> wakes;
                chan::lock_t lk(shared.mu);
                if (!shared.buf.empty()) {
                    if (!weft::detail::claim_select(claimer)) {
                        lk.unlock();
                        weft::detail::wait_reopened("mpsc::recv", where);  // took nothing
                        continue;
                    }
                    std::optional<T> v(std::in_place, shared.buf.pop_front());
                    shared.refill_locked(wakes);
                    lk.unlock();
                    return v;
                }
                if (shared.ended_locked()) return std::nullopt;
                park_locked(shared, node, claimer);
            }
            std::uint32_t s = chan::wait_as_receiver(shared, node, "mpsc::recv", where);
            if (s == wait_status::refused) {
                weft::detail::wait_reopened("mpsc::recv", where);
                continue;
            }
            if (s != wait_status::granted) return std::nullopt;
            give_back_if_aborted(shared, node);
            return std::move(node.value);
        }
    }

    /// recv() as an operation of weft::select over operations (no fiber of its own):
    /// `weft::select(rx.recv_op(), ticker.tick_op())`. Completes with what recv() returns.
    class recv_operation {
       public:
        /// What weft::select returns at this operation's index.
        using value_type = std::optional<T>;
        recv_operation(const recv_operation&) = delete;
        recv_operation& operator=(const recv_operation&) = delete;

        /// The select_op protocol (weft/detail/select_op.hpp); called by weft::select only.
        std::uint32_t start(const weft::detail::claim_record* rec, const weft::detail::waker& w) {
            wake_batch<1> wakes;  // declared first: the refilled sender is woken after unlocking
            chan::lock_t lk(shared_->mu);
            if (!shared_->buf.empty()) {
                if (!weft::detail::claim_select(rec)) return wait_status::refused;
                value_.emplace(shared_->buf.pop_front());
                shared_->refill_locked(wakes);
                return wait_status::granted;
            }
            if (shared_->ended_locked()) return wait_status::closed;
            chan::park_receiver_locked(*shared_, node_.emplace(), w.clone(), rec, receiver_name);
            return wait_status::waiting;
        }
        /// The select_op protocol: the status of the queued waiter.
        [[nodiscard]] std::uint32_t status() const noexcept { return node_->status(); }
        /// The select_op protocol: leaves the queue (true if it was still queued).
        bool withdraw() noexcept { return chan::withdraw_receiver(*shared_, *node_); }
        /// The select_op protocol: the winner's result.
        value_type finish(std::uint32_t s) {
            if (value_) return std::move(value_);
            if (s == wait_status::granted) return std::move(node_->value);
            return std::nullopt;  // closed and drained
        }

       private:
        friend class mpsc_receiver_base;
        explicit recv_operation(chan::mpsc_state<T>& shared) noexcept
            : shared_(&shared) {}
        chan::mpsc_state<T>* shared_;
        std::optional<T> value_;                // taken at start
        std::optional<chan::rx_node<T>> node_;  // queued at start; a new one per start
    };

    /// recv() for weft::select over operations: see recv_operation.
    /// **Cancellation**: as recv (weft::select over operations).
    [[nodiscard]] recv_operation recv_op() { return recv_operation(state()); }

    /// Receives the next value if one is buffered; std::nullopt otherwise (also once closed).
    /// Never suspends. In a select branch that lost the race, takes nothing (std::nullopt).
    std::optional<T> try_recv() {
        chan::mpsc_state<T>& shared = state();
        wake_batch<1> wakes;
        chan::lock_t lk(shared.mu);
        // In a select branch, only once it holds the race: a loser leaves the value.
        if (shared.buf.empty() || !weft::detail::claim_for_try()) return std::nullopt;
        std::optional<T> v(std::in_place, shared.buf.pop_front());
        shared.refill_locked(wakes);
        lk.unlock();
        return v;
    }

    /// Waits for at least one value, then appends up to `limit` values to `out` and returns
    /// how many. Returns 0 when `limit` is 0, or once the channel is closed and drained.
    /// **Cancellation**: cancel-safe, as recv.
    std::size_t recv_many(std::vector<T>& out, std::size_t limit,
                          std::source_location where = std::source_location::current()) {
        if (limit == 0) return 0;
        chan::mpsc_state<T>& shared = state();
        const weft::detail::claim_record* claimer = begin_receive(where);
        for (bool retry = false;; retry = true) {  // a refused branch retries once it reopens
            if (retry) claimer = weft::detail::current_claimer();
            chan::rx_node<T> node;
            bool refused = false;
            for (;;) {
                if (std::size_t n = drain(shared, out, limit, claimer)) return n;
                chan::lock_t lk(shared.mu);
                if (!shared.buf.empty()) {
                    if (weft::detail::claim_select(claimer)) continue;  // filled meanwhile
                    refused = true;
                    break;
                }
                if (shared.ended_locked()) return 0;
                park_locked(shared, node, claimer);
                break;
            }
            if (!refused) {
                std::uint32_t s = chan::wait_as_receiver(shared, node, "mpsc::recv_many", where);
                if (s == wait_status::granted) {
                    give_back_if_aborted(shared, node);
                    out.push_back(std::move(*node.value));
                    return 1 + drain(shared, out, limit - 1, nullptr);  // claimed when granted
                }
                if (s != wait_status::refused) return 0;
            }
            weft::detail::wait_reopened("mpsc::recv_many", where);  // took nothing
        }
    }

    /// Closes the channel: later sends fail (parked senders get their value back in
    /// send_error), the values already buffered can still be received.
    void close() { state().close_rx(); }

    /// Asio form of recv: completes with void(error_code, T) (T not default-constructible:
    /// std::optional<T>): the value, or error::channel_closed once closed and drained.
    /// Cancellation through the handler's slot completes with operation_aborted and consumes
    /// nothing. Destroying the receiver completes a pending one with operation_aborted.
    /// The handler runs on its associated executor, else on a weft worker (inside a runtime)
    /// or asio::system_executor. As for any Asio operation, emit its cancellation signal on
    /// the executor the handler runs on (bind the handler to your executor when it has none,
    /// e.g. in a parallel_group: `rx.async_recv(asio::bind_executor(ex, asio::deferred))`).
    template <
        boost::asio::completion_token_for<void(boost::system::error_code, chan::async_value_t<T>)>
            Token>
    auto async_recv(Token&& token) {
        return boost::asio::async_initiate<Token,
                                           void(boost::system::error_code, chan::async_value_t<T>)>(
            chan::initiate_recv<T>{chan::mpsc_ptr<T>(&state())}, token);
    }

    /// Asio form of recv_many: completes with void(error_code, std::vector<T>) holding 1 to
    /// `limit` values (none if `limit` is 0), or error::channel_closed once closed and drained.
    /// Cancellation as async_recv.
    template <
        boost::asio::completion_token_for<void(boost::system::error_code, std::vector<T>)> Token>
    auto async_recv_many(std::size_t limit, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::vector<T>)>(
            chan::initiate_recv_many<T>{chan::mpsc_ptr<T>(&state())}, token, limit);
    }

   protected:
    explicit mpsc_receiver_base(chan::mpsc_ptr<T> shared) noexcept
        : shared_(std::move(shared)) {}

   private:
    chan::mpsc_state<T>& state() const {
        if (!shared_) weft::detail::chan::throw_moved_from("weft::mpsc::receiver");
        return *shared_;
    }
    /// The start of recv and recv_many: the claimer of their first try, then the cooperative
    /// scheduling point. current_claimer() gives back what the branch held before the budget's
    /// yield (select_claim.hpp: begin_consuming), so the first try needs no second call.
    static const weft::detail::claim_record* begin_receive(std::source_location where) {
        const weft::detail::claim_record* claimer = weft::detail::current_claimer();
        weft::detail::consume_budget(where);
        return claimer;
    }
    void reset() noexcept {
        if (shared_) {
            shared_->drop_rx();
            shared_.reset();
        }
    }
    static constexpr const char* receiver_name = chan::mpsc_receiver_name;
    static void park_locked(chan::mpsc_state<T>& shared, chan::rx_node<T>& node,
                            const weft::detail::claim_record* claimer) {
        chan::park_receiver_locked(shared, node,
                                   weft::detail::current_waker("weft::mpsc::receiver::recv"),
                                   claimer, receiver_name);
    }
    /// A value handed to this receiver as its task was being aborted goes back to the front
    /// of the channel (which may then hold one more than its capacity) and the call throws;
    /// if that fails, the value is returned (waiter.hpp: give_back_if_aborted).
    static void give_back_if_aborted(chan::mpsc_state<T>& shared, chan::rx_node<T>& node) {
        chan::give_back_if_aborted(shared, node,
                                   [&](T&& v) { shared.buf.push_front(std::move(v)); });
    }
    /// Moves up to `limit` buffered values to `out`, refilling from parked senders; the lock
    /// is taken per batch of 32 (the wakes of the refilled senders happen between batches).
    /// `claimer` claims before the first value is taken (null: no claim needed); refused,
    /// nothing is taken.
    static std::size_t drain(chan::mpsc_state<T>& shared, std::vector<T>& out, std::size_t limit,
                             const weft::detail::claim_record* claimer) {
        std::size_t n = 0;
        while (n < limit) {
            wake_batch<32> wakes;
            chan::lock_t lk(shared.mu);
            std::size_t k = shared.buf.size();
            if (k > limit - n) k = limit - n;
            if (k > 32) k = 32;
            if (k == 0) break;
            if (n == 0 && !weft::detail::claim_select(claimer)) break;
            // Before popping: nothing is lost if it throws. Geometric, since reserve allocates
            // exactly what it is asked for: a vector grown by k at a time would be copied whole
            // on every batch.
            if (out.capacity() - out.size() < k)
                out.reserve(std::max(out.size() + k, 2 * out.size()));
            for (std::size_t i = 0; i < k; ++i) {
                out.push_back(shared.buf.pop_front());
                shared.refill_locked(wakes);
            }
            n += k;
        }
        return n;
    }

    chan::mpsc_ptr<T> shared_;
};

}  // namespace weft::detail::chan

namespace weft::mpsc {

/// The sending half of a bounded channel. Copyable; safe from any thread or task.
template <class T>
class sender : public detail::chan::mpsc_sender_base<T> {
   public:
    /// Sends `value`, waiting while the buffer is full (backpressure; waiting senders are
    /// served in FIFO order). Throws send_error<T> holding `value` if the receiver is gone or
    /// closed the channel.
    /// **Cancellation**: not cancel-safe. An abort while waiting for room throws
    /// task_cancelled and the value is destroyed (it was not sent). A send that completed
    /// before the abort was seen returns normally. In a select branch the value goes into the
    /// channel only once the branch has won the select, so a send that lost was not sent
    /// (as a losing send future in Tokio): a caller that retries it sends it once. Like recv,
    /// a send gives back the race its branch won with an earlier operation (a loop branch
    /// that received a value and now forwards it may lose it to a sibling while it waits for
    /// room, as in Tokio).
    void send(T value, std::source_location where = std::source_location::current()) const {
        namespace chan = weft::detail::chan;
        namespace wait_status = weft::detail::wait_status;
        chan::mpsc_state<T>& shared = this->state();
        // Gives back what the branch held before the budget's yield (select_claim.hpp:
        // begin_consuming), and is the claimer of the first try.
        const weft::detail::claim_record* claimer = weft::detail::current_claimer();
        weft::detail::consume_budget(where);
        for (bool retry = false;; retry = true) {  // a refused branch retries once it reopens
            if (retry) claimer = weft::detail::current_claimer();
            chan::tx_node<T> node;
            {
                weft::detail::wake_batch<1> wakes;
                chan::lock_t lk(shared.mu);
                // In a select branch the value leaves here only if the branch holds its select.
                if (claimer && shared.can_send_now_locked() &&
                    !weft::detail::claim_select(claimer)) {
                    lk.unlock();
                    weft::detail::wait_reopened("mpsc::send", where);  // sent nothing
                    continue;
                }
                send_status s = shared.try_send_locked(value, wakes);
                if (s != send_status::full) {
                    lk.unlock();
                    if (s == send_status::closed) throw send_error<T>(std::move(value));
                    return;
                }
                node.value = &value;
                node.set_waker(weft::detail::current_waker("weft::mpsc::sender::send"));
                node.set_claimer(claimer);  // a receiver refilling from it claims first
                shared.tx_waiters.push_back(node);
            }
            std::uint32_t s = chan::wait_queued(shared.mu, node, "mpsc::send", where);
            if (s == wait_status::refused) {
                weft::detail::wait_reopened("mpsc::send", where);  // sent nothing
                continue;
            }
            if (s == wait_status::closed) throw send_error<T>(std::move(value));
            return;
        }
    }

   private:
    template <class U>
    friend std::pair<sender<U>, receiver<U>> channel(std::size_t);
    explicit sender(weft::detail::chan::sender_ref<T> tx) noexcept
        : detail::chan::mpsc_sender_base<T>(std::move(tx)) {}
};

/// The sending half of an unbounded channel. Copyable; safe from any thread or task.
template <class T>
class unbounded_sender : public detail::chan::mpsc_sender_base<T> {
   public:
    /// Sends `value` without ever waiting. Throws send_error<T> holding `value` if the
    /// receiver is gone or closed the channel. Not a cancellation point.
    void send(T value) const {
        // An unbounded channel is never full: try_send either sends or leaves `value` closed.
        if (this->try_send(std::move(value)) == send_status::closed) {
            throw send_error<T>(std::move(value));
        }
    }

   private:
    template <class U>
    friend std::pair<unbounded_sender<U>, unbounded_receiver<U>> unbounded_channel();
    explicit unbounded_sender(weft::detail::chan::sender_ref<T> tx) noexcept
        : detail::chan::mpsc_sender_base<T>(std::move(tx)) {}
};

/// The receiving half of a bounded channel (see detail::chan::mpsc_receiver_base for the members).
template <class T>
class receiver : public detail::chan::mpsc_receiver_base<T> {
   private:
    template <class U>
    friend std::pair<sender<U>, receiver<U>> channel(std::size_t);
    explicit receiver(weft::detail::chan::mpsc_ptr<T> shared) noexcept
        : detail::chan::mpsc_receiver_base<T>(std::move(shared)) {}
};

/// The receiving half of an unbounded channel (see detail::chan::mpsc_receiver_base for the
/// members).
template <class T>
class unbounded_receiver : public detail::chan::mpsc_receiver_base<T> {
   private:
    template <class U>
    friend std::pair<unbounded_sender<U>, unbounded_receiver<U>> unbounded_channel();
    explicit unbounded_receiver(weft::detail::chan::mpsc_ptr<T> shared) noexcept
        : detail::chan::mpsc_receiver_base<T>(std::move(shared)) {}
};

/// Creates a bounded channel holding at most `capacity` values (>= 1; 0 throws
/// std::invalid_argument). The buffer is allocated up front (up to 4096 slots, then grown by
/// doubling), so sending never allocates.
///
/// ```cpp
/// auto [tx, rx] = weft::mpsc::channel<std::string>(16);
/// weft::spawn([tx] { tx.send("job"); });          // waits while the channel is full
/// while (std::optional<std::string> job = rx.recv()) handle(*job);  // nullopt: all senders gone
/// ```
template <class T>
std::pair<sender<T>, receiver<T>> channel(std::size_t capacity) {
    namespace chan = weft::detail::chan;
    if (capacity == 0) {
        throw std::invalid_argument("weft::mpsc::channel: capacity must be at least 1");
    }
    chan::mpsc_ptr<T> shared(new chan::mpsc_state<T>(capacity));
    return {sender<T>(chan::sender_ref<T>(shared)), receiver<T>(shared)};
}

/// Creates an unbounded channel: send never waits (memory is the only limit).
template <class T>
std::pair<unbounded_sender<T>, unbounded_receiver<T>> unbounded_channel() {
    namespace chan = weft::detail::chan;
    chan::mpsc_ptr<T> shared(new chan::mpsc_state<T>(chan::mpsc_state<T>::unbounded));
    return {unbounded_sender<T>(chan::sender_ref<T>(shared)), unbounded_receiver<T>(shared)};
}

}  // namespace weft::mpsc
