// The shared state of an mpsc channel (bounded and unbounded) and the operations on it that
// the public sender and receiver types wrap.
//
// State, all guarded by `mu` (one short spin lock per channel):
//   buf          the values in flight, FIFO; at most `cap` of them (SIZE_MAX: unbounded). A
//                ring that reaches its final size once, so steady sends never allocate.
//   tx_waiters   senders parked on a full buffer, FIFO, each pointing at its unsent value.
//                Every value taken from a full buffer is replaced at once by the first parked
//                sender's value (hand-off): that sender is done without taking the lock
//                again, and a try_send right after a recv cannot barge past a parked sender.
//   rx_waiter    the receiver parked on an empty buffer (single receiver: at most one). A send
//                into an empty buffer hands its value straight into this node.
//   rx_closed    the receiver closed or is gone: sends fail (atomic, for is_closed()).
//   tx_gone      every sender is gone (`senders`, atomic, reached 0): recv drains, then ends.
//   closed_waiters senders waiting in closed() for the receiver to go.
// Waiters are detail/wait_list.hpp nodes; wakes and Asio completions happen after unlocking.
// User code (T's destructor) never runs under the lock: the values a departing receiver drops
// are moved out and destroyed after unlocking.
//
// T needs only a move constructor. If it throws, the channel stays consistent (no waiter is
// left hanging: a receiver whose hand-over throws stays parked) but the value being moved may
// be lost, except when an aborted receiver gives its value back (waiter.hpp:
// give_back_if_aborted: then the receive returns it).
//
// Cancel-safety: a receiver's node gets a value only under the lock, and an aborted receiver
// withdraws its node under the same lock, so a value is either in the buffer or handed to a
// receiver that returns it (waiter.hpp: the grant is kept): never lost, never duplicated. A
// parked sender withdrawn by an abort has not sent; its value dies with its frame (send is
// documented as not cancel-safe). A sender granted before it saw the abort has sent, and
// returns normally.
#pragma once

#include <weft/channel/detail/misuse.hpp>
#include <weft/channel/detail/ring.hpp>
#include <weft/channel/detail/waiter.hpp>
#include <weft/channel/send_error.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::detail::chan {

using lock_t = std::unique_lock<spin_lock>;

/// A sender parked on a full buffer. Final status: granted (the value is in the buffer) or
/// closed (the receiver went away; *value untouched).
template <class T>
struct tx_node : wait_node {
    T* value = nullptr;
};

/// The receiver parked on an empty buffer. Final status: granted (`value` holds the value),
/// closed (every sender gone / closed), aborted (async: the receiver was destroyed).
template <class T>
struct rx_node : wait_node {
    std::optional<T> value;
};

template <class T>
struct mpsc_state : boost::intrusive_ref_counter<mpsc_state<T>, boost::thread_safe_counter> {
    static_assert(std::is_move_constructible_v<T>, "weft::mpsc: T must be move-constructible");
    static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();
    // A bounded ring is allocated whole up front up to this size, then grows by doubling.
    static constexpr std::size_t prealloc = 4096;

    explicit mpsc_state(std::size_t c)
        : buf(c == unbounded ? 64 : (c < prealloc ? c : prealloc), c) {}

    ~mpsc_state() {
        // Nodes unlink themselves (auto_unlink); none can be queued once every handle is gone.
        WEFT_ASSERT(rx_waiter == nullptr, "an mpsc channel dies with a receiver queued");
    }

    spin_lock mu;
    ring<T> buf;
    std::atomic<std::size_t> senders{1};
    std::atomic<bool> rx_closed{false};  // written under mu
    bool tx_gone = false;
    rx_node<T>* rx_waiter = nullptr;
    wait_list<tx_node<T>> tx_waiters;
    wait_list<wait_node> closed_waiters;

    /// Under mu, after a value left the buffer: refills it from the first parked sender whose
    /// select (if it is a select branch) it may claim. A sender whose select another branch
    /// holds sends nothing: it is dequeued and told wait_status::refused at once (it retries
    /// once the race reopens, or is aborted with the other losers), and the next sender is
    /// tried. (If T's move throws, the sender stays parked, holding the claim it won, and the
    /// exception propagates.)
    template <std::size_t N>
    void refill_locked(wake_batch<N>& wakes) {
        // A refused sender is woken under the lock rather than through `wakes`, whose room
        // the callers size for the one refill they make: a refusal needs a select race lost
        // in the instant of a refill, rare enough not to size every batch for it. The wake
        // only queues the sender's task; nothing it does takes this lock.
        tx_node<T>* n = first_claimed(tx_waiters, [](tx_node<T>& r) noexcept {
            wake_batch<1> refused;
            refused.grant(r, wait_status::refused);
        });
        if (!n) return;
        buf.push_back(std::move(*n->value));
        tx_waiters.pop_front();
        wakes.grant(*n, wait_status::granted);
    }

    /// Under mu: a send would complete without waiting (the channel is open and a receiver
    /// is parked, which means an empty buffer, or the buffer has room).
    [[nodiscard]] bool can_send_now_locked() const noexcept {
        return !rx_closed.load(std::memory_order_relaxed) && (rx_waiter != nullptr || !buf.full());
    }

    /// Under mu: tries to deliver `v` without waiting; `wakes` receives the receiver's wake when
    /// `v` went straight into its node.
    mpsc::send_status try_send_locked(T& v, wake_batch<1>& wakes) {
        if (rx_closed.load(std::memory_order_relaxed)) return mpsc::send_status::closed;
        if (hand_to_receiver_locked(*this, v, wakes)) return mpsc::send_status::ok;
        // No receiver parked, or another branch of its select holds the race (it was told so
        // and retries once the race reopens): the value goes to the buffer, where the retry or
        // a later recv finds it. A parked receiver means the buffer was empty.
        if (buf.full()) return mpsc::send_status::full;
        buf.push_back(std::move(v));
        return mpsc::send_status::ok;
    }

    /// The receiver side sees the end: every sender gone or receiver closed, buffer empty.
    [[nodiscard]] bool ended_locked() const noexcept {
        return buf.empty() && (tx_gone || rx_closed.load(std::memory_order_relaxed));
    }

    /// `lk` holds mu: marks the receiver closed, fails every parked sender and ends every
    /// closed() wait. Releases the lock.
    void close_and_unlock(lock_t& lk) noexcept {
        // Ordering: release pairs with is_closed()'s acquire.
        rx_closed.store(true, std::memory_order_release);
        grant_all(tx_waiters, lk, wait_status::closed);
        lk.lock();
        grant_all(closed_waiters, lk, wait_status::granted);
    }

    /// The receiver closes: later sends fail, parked senders fail, buffered values stay.
    void close_rx() noexcept {
        lock_t lk(mu);
        if (rx_closed.load(std::memory_order_relaxed)) return;
        close_and_unlock(lk);
    }

    /// The receiver is gone: close, drop the buffered values (outside the lock), and abort an
    /// async_recv still pending.
    void drop_rx() noexcept {
        ring<T> dropped;
        {
            wake_batch<1> wakes;
            lock_t lk(mu);
            rx_closed.store(true, std::memory_order_release);  // no send lands from here on
            end_receiver_wait_locked(*this, wakes, wait_status::aborted);
            dropped = std::move(buf);
            lk.unlock();
            wakes.flush();
            lk.lock();
            close_and_unlock(lk);
        }
        // `dropped` dies here, after the lock: T's destructor may use this very channel.
    }

    /// The last sender is gone: the receiver drains the buffer, then sees the end.
    void drop_last_tx() noexcept {
        wake_batch<1> wakes;
        lock_t lk(mu);
        tx_gone = true;
        end_receiver_wait_locked(*this, wakes, wait_status::closed);
    }
};

template <class T>
using mpsc_ptr = boost::intrusive_ptr<mpsc_state<T>>;

/// How the receiving handle is named in misuse errors.
inline constexpr const char* mpsc_receiver_name = "weft::mpsc::receiver";

/// A counted reference that keeps the channel open for the receiver (what every sender, and
/// every pending async_send, holds).
template <class T>
class sender_ref {
   public:
    sender_ref() noexcept = default;
    explicit sender_ref(mpsc_ptr<T> shared) noexcept
        : shared_(std::move(shared)) {}  // adopts one count
    sender_ref(const sender_ref& o) noexcept
        : shared_(o.shared_) {
        // Ordering: relaxed, as for shared_ptr: the copier holds a count already.
        if (shared_) shared_->senders.fetch_add(1, std::memory_order_relaxed);
    }
    sender_ref(sender_ref&& o) noexcept = default;
    sender_ref& operator=(const sender_ref& o) noexcept {
        sender_ref tmp(o);
        swap(tmp);
        return *this;
    }
    sender_ref& operator=(sender_ref&& o) noexcept {
        sender_ref tmp(std::move(o));
        swap(tmp);
        return *this;
    }
    ~sender_ref() { reset(); }
    void reset() noexcept {
        if (!shared_) return;
        // Ordering: acq_rel so the last sender's drop follows every other sender's sends.
        if (shared_->senders.fetch_sub(1, std::memory_order_acq_rel) == 1) shared_->drop_last_tx();
        shared_.reset();
    }
    void swap(sender_ref& o) noexcept { shared_.swap(o.shared_); }
    [[nodiscard]] mpsc_state<T>* get() const noexcept { return shared_.get(); }
    explicit operator bool() const noexcept { return static_cast<bool>(shared_); }

   private:
    mpsc_ptr<T> shared_;
};

// ---- Asio operations -------------------------------------------------------------------

template <class T>
struct async_send_node : tx_node<T> {
    async_send_node(sender_ref<T> s, T v)
        : shared(s.get()),
          tx(std::move(s)),
          storage(std::move(v)) {
        this->value = &*storage;
    }
    bool cancel_wait() noexcept { return withdraw_if_queued(shared->mu, *this); }
    std::tuple<boost::system::error_code, std::optional<T>> completion_args(
        std::uint32_t status) noexcept {
        tx.reset();  // a finished send no longer keeps the channel open
        if (status == wait_status::granted) {
            return {boost::system::error_code(), std::optional<T>()};
        }
        boost::system::error_code ec = status == wait_status::closed
                                           ? make_error_code(error::channel_closed)
                                           : make_error_code(boost::asio::error::operation_aborted);
        return {ec, std::move(storage)};
    }

    mpsc_ptr<T> shared;
    sender_ref<T> tx;  // a pending send keeps the channel open, like a sender
    std::optional<T> storage;
};

template <class T>
struct initiate_send {
    sender_ref<T> tx;
    template <class Handler>
    void operator()(Handler&& h, T value) const {
        using op_t = async_wait_op_for<async_send_node<T>, Handler>;
        op_t* op = op_t::create(std::forward<Handler>(h), tx, std::move(value));
        mpsc_state<T>& shared = *tx.get();
        wake_batch<1> wakes;
        lock_t lk(shared.mu);
        mpsc::send_status s = shared.try_send_locked(*op->value, wakes);
        if (s == mpsc::send_status::full) {
            lk.unlock();
            op->arm_cancellation();  // outside the lock: it may allocate
            lk.lock();
            s = shared.try_send_locked(*op->value, wakes);
            if (s == mpsc::send_status::full) {
                shared.tx_waiters.push_back(*op);
                return;
            }
        }
        lk.unlock();
        wakes.flush();
        op->complete(s == mpsc::send_status::ok ? wait_status::granted : wait_status::closed);
    }
};

template <class T>
using async_recv_node = single_receiver_async_node<T, rx_node<T>, mpsc_ptr<T>>;

template <class T>
struct initiate_recv {
    mpsc_ptr<T> shared;
    template <class Handler>
    void operator()(Handler&& h) const {
        using op_t = async_wait_op_for<async_recv_node<T>, Handler>;
        op_t* op = op_t::create(std::forward<Handler>(h), shared);
        start_async_receive<1>(*shared, op, mpsc_receiver_name, [&](wake_batch<1>& wakes) {
            if (shared->buf.empty()) {
                return shared->ended_locked() ? wait_status::closed : wait_status::waiting;
            }
            op->value.emplace(shared->buf.pop_front());
            shared->refill_locked(wakes);
            return wait_status::granted;
        });
    }
};

template <class T>
struct async_recv_many_node : rx_node<T> {
    async_recv_many_node(mpsc_ptr<T> s, std::size_t l) noexcept
        : shared(std::move(s)),
          limit(l) {}
    bool cancel_wait() noexcept { return withdraw_receiver(*shared, *this); }
    /// Under mu: moves up to limit - out.size() buffered values to `out`.
    template <std::size_t N>
    void drain_locked(wake_batch<N>& wakes) {
        while (out.size() < limit && !shared->buf.empty() && !wakes.full()) {
            out.push_back(shared->buf.pop_front());
            shared->refill_locked(wakes);
        }
    }
    std::tuple<boost::system::error_code, std::vector<T>> completion_args(
        std::uint32_t status) noexcept {
        if (status == wait_status::granted) {
            // Called outside the lock: take what else arrived, as recv_many does.
            if (this->value) out.push_back(std::move(*this->value));
            while (out.size() < limit) {
                wake_batch<32> wakes;
                lock_t lk(shared->mu);
                if (shared->buf.empty()) break;
                drain_locked(wakes);
            }
            return {boost::system::error_code(), std::move(out)};
        }
        boost::system::error_code ec = status == wait_status::closed
                                           ? make_error_code(error::channel_closed)
                                           : make_error_code(boost::asio::error::operation_aborted);
        return {ec, std::vector<T>()};
    }

    mpsc_ptr<T> shared;
    std::size_t limit;
    std::vector<T> out;
};

template <class T>
struct initiate_recv_many {
    mpsc_ptr<T> shared;
    template <class Handler>
    void operator()(Handler&& h, std::size_t limit) const {
        using op_t = async_wait_op_for<async_recv_many_node<T>, Handler>;
        op_t* op = op_t::create(std::forward<Handler>(h), shared, limit);
        if (limit == 0) {
            op->complete(wait_status::granted);
            return;
        }
        op->out.reserve(limit < 64 ? limit : 64);
        start_async_receive<32>(*shared, op, mpsc_receiver_name, [&](wake_batch<32>& wakes) {
            if (shared->buf.empty()) {
                return shared->ended_locked() ? wait_status::closed : wait_status::waiting;
            }
            op->drain_locked(wakes);  // the rest, if any, is drained by completion_args
            return wait_status::granted;
        });
    }
};

}  // namespace weft::detail::chan
