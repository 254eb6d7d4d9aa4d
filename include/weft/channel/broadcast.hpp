// weft::broadcast: multi-producer, multi-consumer channel where every receiver sees every
// value (Tokio's tokio::sync::broadcast). Bounded by an exact capacity: a receiver that falls
// more than `capacity` values behind loses the oldest ones and is told so (broadcast::lagged).
//
//   auto [tx, rx1] = weft::broadcast::channel<std::string>(16);
//   auto rx2 = tx.subscribe();
//   tx.send("hi");                       // both rx1 and rx2 will receive "hi"
//
// The state, its lock and the lag rule are described in detail/broadcast_state.hpp.
#pragma once

#include <weft/channel/detail/broadcast_state.hpp>
#include <weft/channel/detail/misuse.hpp>
#include <weft/channel/lagged.hpp>

#include <boost/asio/async_result.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <utility>
#include <vector>

namespace weft::broadcast {

template <class T>
class receiver;

/// The sending half. Copyable; the channel closes for the receivers (once they drained it)
/// when the last copy is destroyed. Safe to use from any thread or task.
template <class T>
class sender {
   public:
    /// Another sender on the same channel; the channel closes when the last one is destroyed.
    sender(const sender& o) noexcept
        : shared_(o.shared_) {
        // Ordering: relaxed, as for shared_ptr: the copier holds a count already.
        if (shared_) shared_->tx_count.fetch_add(1, std::memory_order_relaxed);
    }
    /// Takes over `o`'s reference; `o` becomes empty.
    sender(sender&&) noexcept = default;
    /// Refers to `o`'s channel instead (dropping this reference may close the old channel).
    sender& operator=(const sender& o) noexcept {
        sender tmp(o);
        shared_.swap(tmp.shared_);
        return *this;
    }
    /// Takes over `o`'s reference (dropping this one may close the old channel).
    sender& operator=(sender&& o) noexcept {
        sender tmp(std::move(o));
        shared_.swap(tmp.shared_);
        return *this;
    }
    ~sender() { reset(); }

    /// Sends `value` to every current receiver and returns how many will see it (0: there is
    /// none, and the value is dropped). Never waits: when the buffer is full the oldest value
    /// is overwritten and the receivers that had not read it will get broadcast::lagged.
    std::size_t send(T value) const {
        auto& shared = state();
        std::optional<T> old;  // the overwritten value dies after unlocking
        std::unique_lock lk(shared.mu);
        if (shared.rx_count == 0) return 0;
        auto& s = shared.slots[shared.tail % shared.cap];
        old.swap(s.val);
        s.pos = shared.tail;
        s.rem = shared.rx_count;
        s.val.emplace(std::move(value));
        ++shared.tail;
        std::size_t n = shared.rx_count;
        if (!shared.waiters.empty()) shared.wake_all_locked(lk, weft::detail::wait_status::granted);
        return n;
    }

    /// A new receiver that will see every value sent from now on.
    receiver<T> subscribe() const;

    /// The number of live receivers.
    [[nodiscard]] std::size_t receiver_count() const {
        auto& shared = state();
        std::lock_guard lk(shared.mu);
        return shared.rx_count;
    }

   private:
    template <class U>
    friend std::pair<sender<U>, receiver<U>> channel(std::size_t);
    explicit sender(weft::detail::chan::broadcast_ptr<T> shared) noexcept
        : shared_(std::move(shared)) {}
    weft::detail::chan::broadcast_state<T>& state() const {
        if (!shared_) weft::detail::chan::throw_moved_from("weft::broadcast::sender");
        return *shared_;
    }
    void reset() noexcept {
        if (!shared_) return;
        // Ordering: acq_rel so the last sender's close follows every other sender's sends.
        if (shared_->tx_count.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::unique_lock lk(shared_->mu);
            shared_->closed = true;
            shared_->wake_all_locked(lk, weft::detail::wait_status::closed);
        }
        shared_.reset();
    }

    weft::detail::chan::broadcast_ptr<T> shared_;
};

/// A receiving half: sees every value sent after it subscribed, in order. Movable, single
/// owner. Destroying it releases the values it had not read.
template <class T>
class receiver {
   public:
    /// Takes over `o`'s position in the channel; `o` becomes empty.
    receiver(receiver&&) noexcept = default;
    /// Unsubscribes this receiver, then takes over `o`'s position.
    receiver& operator=(receiver&& o) noexcept {
        if (this != &o) {
            reset();
            shared_ = std::move(o.shared_);
            cur_ = std::move(o.cur_);
        }
        return *this;
    }
    receiver(const receiver&) = delete;
    receiver& operator=(const receiver&) = delete;
    ~receiver() { reset(); }

    /// Receives the next value, waiting while there is none. Throws broadcast::lagged (with
    /// skipped()) if values were overwritten before this receiver read them; the next recv
    /// returns the oldest value still kept. Throws channel_closed once every sender is gone
    /// and this receiver has read everything.
    /// **Cancellation**: cancel-safe: an abort while waiting throws task_cancelled and the
    /// value stays for the next recv. A select branch reads only once it has won the select,
    /// so a losing branch leaves the value (and a lag report) for the next recv.
    T recv(std::source_location where = std::source_location::current()) {
        namespace chan = weft::detail::chan;
        auto& shared = state();
        weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
        weft::detail::consume_budget(where);
        const weft::detail::claim_record* claimer = weft::detail::current_claimer();
        for (bool first = true;;) {
            chan::bc_node<T> node;
            {
                std::unique_lock lk(shared.mu);
                // A select branch reads (moves its cursor) only once it has won the select:
                // a loser leaves the value for the next recv.
                if (shared.readable_locked(*cur_) && !weft::detail::claim_select(claimer)) {
                    lk.unlock();
                    weft::detail::wait_reopened("broadcast::recv", where);  // took nothing
                    first = false;
                    continue;
                }
                chan::broadcast_read<T> r;
                if (shared.read_locked(*cur_, r)) {
                    lk.unlock();
                    return r.take();
                }
                chan::queue_cursor_waiter_locked(
                    *cur_, shared.waiters, node,
                    weft::detail::current_waker("weft::broadcast::receiver::recv"), receiver_name,
                    "receive");
            }
            // Notified (or closed): read again. A notification is never passed on: every
            // waiting receiver gets one.
            chan::wait_queued(shared.mu, node, "broadcast::recv", where, first);
            first = false;
        }
    }

    /// recv() as an operation of weft::select over operations (no fiber of its own):
    /// `weft::select(topic.recv_op(), stop.cancelled_op())`. Completes with the value; when it
    /// wins with a lag report or with the channel closed and read, the select throws
    /// broadcast::lagged or channel_closed as recv() does. A recv_op that loses reads nothing.
    class recv_operation {
       public:
        /// What weft::select returns at this operation's index.
        using value_type = T;
        recv_operation(const recv_operation&) = delete;
        recv_operation& operator=(const recv_operation&) = delete;

        /// The select_op protocol (weft/detail/select_op.hpp); called by weft::select only.
        /// A waiter is only notified (it consumes nothing): the read happens in finish(), by
        /// the winner, as a blocking recv reads after its wake.
        std::uint32_t start(const weft::detail::claim_record* rec, const weft::detail::waker& w) {
            namespace ws = weft::detail::wait_status;
            std::unique_lock lk(shared_->mu);
            if (!shared_->readable_locked(*cur_)) {
                if (shared_->closed) return ws::closed;
                weft::detail::chan::bc_node<T>& node = node_.emplace();
                node.set_waker(w.clone());
                shared_->waiters.push_back(node);
                return ws::waiting;
            }
            if (!weft::detail::claim_select(rec)) return ws::refused;  // reads nothing
            shared_->read_locked(*cur_, read_);
            return ws::granted;
        }
        /// The select_op protocol: the status of the queued waiter.
        [[nodiscard]] std::uint32_t status() const noexcept { return node_->status(); }
        /// The select_op protocol: leaves the queue (true if it was still queued).
        bool withdraw() noexcept { return weft::detail::withdraw_if_queued(shared_->mu, *node_); }
        /// The select_op protocol: the winner's result.
        value_type finish(std::uint32_t) {
            if (read_.kind == weft::detail::chan::broadcast_read_result::empty) {
                // Notified (a send or the close): the cursor has something to read now, a
                // value, a lag report or the end (nobody else moves this receiver's cursor).
                std::lock_guard lk(shared_->mu);
                shared_->read_locked(*cur_, read_);
            }
            return read_.take();
        }

       private:
        friend class receiver;
        recv_operation(weft::detail::chan::broadcast_state<T>& shared,
                       weft::detail::chan::bc_cursor& cur) noexcept
            : shared_(&shared),
              cur_(&cur) {}
        weft::detail::chan::broadcast_state<T>* shared_;
        weft::detail::chan::bc_cursor* cur_;
        weft::detail::chan::broadcast_read<T> read_;  // empty until read
        std::optional<weft::detail::chan::bc_node<T>> node_;
    };

    /// recv() for weft::select over operations: see recv_operation.
    /// **Cancellation**: as recv (weft::select over operations).
    [[nodiscard]] recv_operation recv_op() { return recv_operation(state(), *cur_); }

    /// The next value if there is one; std::nullopt if nothing new was sent. Throws
    /// broadcast::lagged and channel_closed as recv does. Never suspends. In a select branch
    /// that lost the race, reads nothing (std::nullopt).
    std::optional<T> try_recv() {
        namespace chan = weft::detail::chan;
        auto& shared = state();
        std::unique_lock lk(shared.mu);
        // In a select branch, only once it holds the race: a loser leaves the value (and a
        // lag report) for the next read.
        if (shared.readable_locked(*cur_) && !weft::detail::claim_for_try()) return std::nullopt;
        chan::broadcast_read<T> r;
        if (!shared.read_locked(*cur_, r)) return std::nullopt;
        lk.unlock();
        return r.take();
    }

    /// Asio form of recv: void(error_code, T) (T not default-constructible:
    /// std::optional<T>); error::lagged (the receiver has moved on to the oldest kept value;
    /// call again) or error::channel_closed. Cancellation through the handler's slot completes
    /// with operation_aborted and consumes nothing. Destroying the receiver aborts a pending
    /// one.
    template <boost::asio::completion_token_for<void(boost::system::error_code,
                                                     weft::detail::chan::async_value_t<T>)>
                  Token>
    auto async_recv(Token&& token) {
        namespace chan = weft::detail::chan;
        return boost::asio::async_initiate<Token,
                                           void(boost::system::error_code, chan::async_value_t<T>)>(
            chan::bc_initiate_recv<T>{chan::broadcast_ptr<T>(&state()), cur_.get()}, token);
    }

   private:
    friend class sender<T>;
    template <class U>
    friend std::pair<sender<U>, receiver<U>> channel(std::size_t);
    receiver(weft::detail::chan::broadcast_ptr<T> shared, std::uint64_t next)
        : shared_(std::move(shared)),
          cur_(std::make_unique<weft::detail::chan::bc_cursor>()) {
        cur_->next = next;
    }
    weft::detail::chan::broadcast_state<T>& state() const {
        if (!shared_) weft::detail::chan::throw_moved_from(receiver_name);
        return *shared_;
    }
    static constexpr const char* receiver_name = weft::detail::chan::broadcast_receiver_name;
    void reset() noexcept {
        std::vector<T> dropped;  // the values only this receiver held, destroyed after unlocking
        weft::detail::chan::drop_cursor_receiver(
            shared_, cur_, [&]() noexcept { shared_->drop_rx_locked(*cur_, dropped); });
    }

    weft::detail::chan::broadcast_ptr<T> shared_;
    std::unique_ptr<weft::detail::chan::bc_cursor> cur_;
};

template <class T>
receiver<T> sender<T>::subscribe() const {
    auto& shared = state();
    std::uint64_t next;
    {
        std::lock_guard lk(shared.mu);
        ++shared.rx_count;
        next = shared.tail;
    }
    try {
        return receiver<T>(shared_, next);
    } catch (...) {  // allocating the cursor failed
        std::lock_guard lk(shared.mu);
        --shared.rx_count;
        throw;
    }
}

/// Creates a broadcast channel that keeps the last `capacity` values (>= 1; 0 throws
/// std::invalid_argument), exactly. The returned receiver sees every value sent.
///
/// ```cpp
/// auto [tx, rx1] = weft::broadcast::channel<std::string>(4);
/// auto rx2 = tx.subscribe();        // sees values sent from now on
/// tx.send("config changed");
/// std::string a = rx1.recv(), b = rx2.recv();  // both get it; broadcast::lagged if too slow
/// ```
template <class T>
std::pair<sender<T>, receiver<T>> channel(std::size_t capacity) {
    namespace chan = weft::detail::chan;
    if (capacity == 0) {
        throw std::invalid_argument("weft::broadcast::channel: capacity must be at least 1");
    }
    chan::broadcast_ptr<T> shared(new chan::broadcast_state<T>(capacity));
    shared->rx_count = 1;
    return {sender<T>(shared), receiver<T>(shared, 0)};
}

}  // namespace weft::broadcast
