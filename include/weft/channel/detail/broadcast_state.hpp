// The shared state of a broadcast channel.
//
// State, guarded by `mu` (one short spin lock):
//   slots     `cap` slots, exactly the capacity asked for. The value sent at position p lives
//             in slots[p % cap] with pos == p until position p + cap overwrites it; `rem`
//             counts the receivers (subscribed at send time) that have not read it yet, and
//             the value is dropped when it reaches 0 (the last reader moves it out).
//   tail      the position of the next send.
//   rx_count  live receivers; tx_count (atomic) live senders; closed once tx_count hits 0.
//   waiters   receivers waiting at tail: fiber nodes are only notified (they read after
//             waking, so an abort consumes nothing); an Asio node reads its value under the
//             lock when granted (grant_all's `before`), because its receiver may be gone by
//             the time the completion runs.
// Each receiver owns a heap cursor (next position, pending Asio node) so that moving the
// receiver never invalidates a pending operation.
//
// Lag: a receiver whose next position was overwritten (slots[next % cap].pos != next) skips
// to the oldest kept position, tail - cap, and reports how many it skipped.
#pragma once

#include <weft/channel/detail/misuse.hpp>
#include <weft/channel/detail/waiter.hpp>
#include <weft/channel/lagged.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace weft::detail::chan {

enum class broadcast_read_result { value, empty, lagged, closed };

/// A receiver's position; heap-allocated so a pending Asio node can point at it.
struct bc_cursor {
    std::uint64_t next = 0;
    wait_node* pending = nullptr;  // the queued Asio node of this receiver (under mu)
};

/// One read of a receiver's cursor (broadcast_state::read_locked) and what it found.
template <class T>
struct broadcast_read {
    broadcast_read_result kind = broadcast_read_result::empty;  // empty: not read, or nothing
    std::optional<T> value;
    std::uint64_t skipped = 0;

    /// After unlocking, for a read that found something: the value, or throws
    /// broadcast::lagged (the cursor has moved to the oldest kept value) or channel_closed.
    T take() {
        switch (kind) {
            case broadcast_read_result::value:
                return std::move(*value);
            case broadcast_read_result::lagged:
                throw weft::broadcast::lagged(skipped);
            default:
                throw channel_closed("weft::broadcast: every sender is gone");
        }
    }
};

template <class T>
struct bc_node : wait_node {
    bc_cursor* rx = nullptr;
    broadcast_read<T> read;  // Asio nodes: the read done at grant time
};

template <class T>
struct bc_slot {
    std::uint64_t pos = std::numeric_limits<std::uint64_t>::max();
    std::size_t rem = 0;
    std::optional<T> val;
};

template <class T>
struct broadcast_state
    : boost::intrusive_ref_counter<broadcast_state<T>, boost::thread_safe_counter> {
    static_assert(std::is_copy_constructible_v<T>, "weft::broadcast: T must be copyable");

    explicit broadcast_state(std::size_t c)
        : cap(c),
          slots(c) {}

    spin_lock mu;
    const std::size_t cap;
    std::vector<bc_slot<T>> slots;
    std::uint64_t tail = 0;
    std::size_t rx_count = 0;
    std::atomic<std::size_t> tx_count{1};
    bool closed = false;
    wait_list<bc_node<T>> waiters;

    /// Under mu: reads the next value for cursor `c` into `r`; false when there is nothing
    /// to read yet (r.kind == empty). On lag, moves `c` to the oldest kept value and sets
    /// r.skipped.
    bool read_locked(bc_cursor& c, broadcast_read<T>& r) {
        r.kind = read_kind_locked(c, r);
        return r.kind != broadcast_read_result::empty;
    }

    /// Under mu: whether read_locked would move cursor `c` (a value or a lag report).
    [[nodiscard]] bool readable_locked(const bc_cursor& c) const noexcept { return c.next != tail; }

    /// Under mu, from grant_all: an Asio node reads its result while its receiver is alive.
    void fill_locked(bc_node<T>& n) {
        if (!n.is_async()) return;
        try {
            read_locked(*n.rx, n.read);
        } catch (...) {
            n.read.kind =
                broadcast_read_result::closed;  // T's copy threw: report the channel unusable
        }
        n.rx->pending = nullptr;
    }

    /// `lk` holds mu: wakes every waiter (batches; releases the lock).
    void wake_all_locked(std::unique_lock<spin_lock>& lk, std::uint32_t status) {
        grant_all(waiters, lk, status, [this](bc_node<T>& n) { fill_locked(n); });
    }

   private:
    broadcast_read_result read_kind_locked(bc_cursor& c, broadcast_read<T>& r) {
        if (c.next == tail)
            return closed ? broadcast_read_result::closed : broadcast_read_result::empty;
        bc_slot<T>& s = slots[c.next % cap];
        if (s.pos != c.next) {
            std::uint64_t oldest = tail - cap;  // s was overwritten, so tail - c.next > cap
            r.skipped = oldest - c.next;
            c.next = oldest;
            return broadcast_read_result::lagged;
        }
        if (s.rem == 1) {  // the last reader takes the value itself
            r.value.emplace(std::move(*s.val));
            s.val.reset();
            s.rem = 0;
        } else {
            r.value.emplace(*s.val);  // may throw: nothing changed yet
            --s.rem;
        }
        ++c.next;
        return broadcast_read_result::value;
    }

   public:
    /// A receiver goes: its unread values lose a reader; those left with none are moved to
    /// `dropped` (destroyed by the caller after unlocking).
    void drop_rx_locked(bc_cursor& c, std::vector<T>& dropped) {
        --rx_count;
        std::uint64_t from = tail > cap ? tail - cap : 0;
        if (c.next > from) from = c.next;
        for (std::uint64_t p = from; p < tail; ++p) {
            bc_slot<T>& s = slots[p % cap];
            if (s.pos != p || s.rem == 0) continue;
            if (--s.rem == 0 && s.val) {
                try {
                    dropped.push_back(std::move(*s.val));
                } catch (...) {  // out of memory: destroy it here instead
                }
                s.val.reset();
            }
        }
    }
};

template <class T>
using broadcast_ptr = boost::intrusive_ptr<broadcast_state<T>>;

/// How a receiving handle is named in misuse errors.
inline constexpr const char* broadcast_receiver_name = "weft::broadcast::receiver";

template <class T>
struct bc_async_node : cursor_async_node<bc_node<T>, broadcast_ptr<T>> {
    using cursor_async_node<bc_node<T>, broadcast_ptr<T>>::cursor_async_node;
    std::tuple<boost::system::error_code, async_value_t<T>> completion_args(
        std::uint32_t status) noexcept {
        using boost::system::error_code;
        if (status == wait_status::aborted) {
            return {make_error_code(boost::asio::error::operation_aborted), async_value_t<T>{}};
        }
        switch (this->read.kind) {
            case broadcast_read_result::value:
                return {error_code(), async_value_t<T>(std::move(*this->read.value))};
            case broadcast_read_result::lagged:
                return {make_error_code(error::lagged), async_value_t<T>{}};
            default:
                return {make_error_code(error::channel_closed), async_value_t<T>{}};
        }
    }
};

template <class T>
struct bc_initiate_recv {
    broadcast_ptr<T> shared;
    bc_cursor* cur;
    template <class Handler>
    void operator()(Handler&& h) const {
        using op_t = async_wait_op_for<bc_async_node<T>, Handler>;
        op_t* op = op_t::create(std::forward<Handler>(h), shared, cur);
        start_async_cursor_wait(*shared, *cur, op, broadcast_receiver_name, "receive", [&] {
            return shared->read_locked(*cur, op->read) ? wait_status::granted
                                                       : wait_status::waiting;
        });
    }
};

}  // namespace weft::detail::chan
