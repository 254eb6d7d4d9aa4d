// The shared state of a watch channel.
//
// State:
//   value, version  the current value and how many times it was sent. Written together under
//                   `value_mu` held exclusively (send, send_modify); borrows hold it shared.
//                   `version` is also atomic, so changed()/has_changed() can test it without
//                   taking any lock.
//   closed          the sender is gone (atomic, set before the final wake).
//   mu              a short spin lock for the waiters, the receiver count and each cursor's
//                   pending Asio node.
// Each receiver owns a heap cursor: the version it has seen (borrow_and_update, changed) and
// its pending Asio node, so moving the receiver never invalidates a pending operation.
//
// No lost wake: a sender bumps `version` before it takes `mu` to wake the waiters; a waiter
// re-checks `version` under `mu` before it queues. Either the waiter's check sees the new
// version, or its node is queued before the sender's wake looks at the list.
// Cancel-safety: a notification consumes nothing (the value stays, every waiter is woken), so
// an aborted changed() has seen nothing and marks nothing.
#pragma once

#include <weft/channel/detail/misuse.hpp>
#include <weft/channel/detail/waiter.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace weft::detail::chan {

/// A receiver's position; heap-allocated so a pending Asio node can point at it.
struct watch_cursor {
    // Atomic only so that a grant (on the sender's thread, under mu) and the owner's reads do
    // not race formally; the owner never uses the receiver while an operation is pending.
    std::atomic<std::uint64_t> seen{0};
    wait_node* pending = nullptr;  // under mu
};

struct watch_node : wait_node {
    watch_cursor* rx = nullptr;
    bool changed = false;  // Asio nodes: decided at grant time
};

template <class T>
struct watch_state : boost::intrusive_ref_counter<watch_state<T>, boost::thread_safe_counter> {
    explicit watch_state(T v)
        : value(std::move(v)) {}

    std::shared_mutex value_mu;
    T value;
    std::atomic<std::uint64_t> version{0};
    std::atomic<bool> closed{false};
    spin_lock mu;
    std::size_t rx_count = 1;
    wait_list<watch_node> waiters;

    /// Whether cursor `c` has an unseen value (marks it seen when `mark`), else whether the
    /// channel is closed. Lock-free.
    enum class probe { changed, unchanged, closed };
    probe check(watch_cursor& c, bool mark) noexcept {
        // Ordering: closed is read before version (both acquire): a sender sets closed after
        // its last version bump, so seeing closed means seeing its final version too.
        bool cl = closed.load(std::memory_order_acquire);
        std::uint64_t v = version.load(std::memory_order_acquire);
        if (v != c.seen.load(std::memory_order_relaxed)) {
            if (mark) c.seen.store(v, std::memory_order_relaxed);
            return probe::changed;
        }
        return cl ? probe::closed : probe::unchanged;
    }

    /// Under mu, from grant_all: an Asio node decides (and marks) while its receiver is alive.
    void fill_locked(watch_node& n) noexcept {
        if (!n.is_async()) return;
        n.changed = check(*n.rx, true) == probe::changed;
        n.rx->pending = nullptr;
    }

    /// After the value changed (or the sender went): wakes every waiter.
    void notify(std::uint32_t status) noexcept {
        std::unique_lock lk(mu);
        if (waiters.empty()) return;
        grant_all(waiters, lk, status, [this](watch_node& n) { fill_locked(n); });
    }
};

template <class T>
using watch_ptr = boost::intrusive_ptr<watch_state<T>>;

/// How a receiving handle is named in misuse errors.
inline constexpr const char* watch_receiver_name = "weft::watch::receiver";

template <class T>
struct watch_async_node : cursor_async_node<watch_node, watch_ptr<T>> {
    using cursor_async_node<watch_node, watch_ptr<T>>::cursor_async_node;
    std::tuple<boost::system::error_code> completion_args(std::uint32_t status) noexcept {
        if (status == wait_status::aborted) {
            return std::make_tuple(make_error_code(boost::asio::error::operation_aborted));
        }
        if (!this->changed) return std::make_tuple(make_error_code(error::channel_closed));
        return std::make_tuple(boost::system::error_code());
    }
};

template <class T>
struct watch_initiate_changed {
    watch_ptr<T> shared;
    watch_cursor* cur;
    template <class Handler>
    void operator()(Handler&& h) const {
        using op_t = async_wait_op_for<watch_async_node<T>, Handler>;
        op_t* op = op_t::create(std::forward<Handler>(h), shared, cur);
        start_async_cursor_wait(*shared, *cur, op, watch_receiver_name, "wait", [&] {
            auto p = shared->check(*cur, true);
            if (p == watch_state<T>::probe::unchanged) return wait_status::waiting;
            op->changed = p == watch_state<T>::probe::changed;
            return wait_status::granted;
        });
    }
};

}  // namespace weft::detail::chan
