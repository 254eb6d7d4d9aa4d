// cancellation_token: a tree of token_state nodes. Each has a flag (atomic, set once), its
// waiters and its live children, under its std::mutex. A child holds a strong reference to
// its parent; a parent lists its children without owning them, and a dying child unlinks
// itself under the parent's lock.
//
// cancel() holds a node's lock while it cancels the children (locks go parent before child,
// never the other way), so a child cannot finish dying (its destructor needs the parent's
// lock) while the canceller still uses it. A child whose last handle is gone may still be
// visited; it has no waiters (a waiter holds a handle), so cancelling it only sets its flag.
// Cancelling recurses once per level of the tree, holding one lock per level.
#include <weft/sync/cancellation_token.hpp>

#include <boost/intrusive/list.hpp>

#include <mutex>

namespace weft {

namespace bi = boost::intrusive;

struct cancellation_token::token_state {
    using child_hook = bi::list_member_hook<bi::link_mode<bi::auto_unlink>>;

    token_state() = default;
    explicit token_state(std::shared_ptr<token_state> p)
        : parent(std::move(p)) {}
    token_state(const token_state&) = delete;
    token_state& operator=(const token_state&) = delete;
    ~token_state() {
        if (parent) {
            std::lock_guard lk(parent->mu);
            if (sibling.is_linked()) sibling.unlink();
        }
    }

    void cancel() noexcept {
        std::unique_lock lk(mu);
        if (cancelled.load(std::memory_order_relaxed)) return;
        // Ordering: release pairs with is_cancelled()'s acquire (what the canceller did
        // before cancel() is visible to whoever sees the flag).
        cancelled.store(true, std::memory_order_release);
        for (token_state& c : children) c.cancel();
        children.clear();  // auto_unlink hooks: unlinks them all
        if (waiters.empty()) return;
        detail::grant_all(waiters, lk, detail::wait_status::granted);
    }

    std::mutex mu;
    std::atomic<bool> cancelled{false};
    detail::wait_list<waiter_node> waiters;
    std::shared_ptr<token_state> parent;
    child_hook sibling;
    bi::list<token_state, bi::member_hook<token_state, child_hook, &token_state::sibling>,
             bi::constant_time_size<false>>
        children;
};

cancellation_token::cancellation_token()
    : state_(std::make_shared<token_state>()) {}

void cancellation_token::cancel() const noexcept { state_->cancel(); }

bool cancellation_token::is_cancelled(const token_state& n) noexcept {
    return n.cancelled.load(std::memory_order_acquire);
}

bool cancellation_token::is_cancelled() const noexcept { return is_cancelled(*state_); }

cancellation_token cancellation_token::child_token() const {
    auto c = std::make_shared<token_state>(state_);
    std::lock_guard lk(state_->mu);
    if (state_->cancelled.load(std::memory_order_relaxed)) {
        c->cancelled.store(true, std::memory_order_relaxed);
    } else {
        state_->children.push_back(*c);
    }
    return cancellation_token(std::move(c));
}

std::uint32_t cancellation_token::enqueue(token_state& n, waiter_node& w) noexcept {
    std::lock_guard lk(n.mu);
    if (n.cancelled.load(std::memory_order_relaxed)) return detail::wait_status::granted;
    n.waiters.push_back(w);
    return detail::wait_status::waiting;
}

bool cancellation_token::cancel_waiter(token_state& n, waiter_node& w) noexcept {
    return detail::withdraw_if_queued(n.mu, w);
}

void cancellation_token::cancelled(std::source_location where) const {
    detail::consume_budget(where);
    if (is_cancelled()) return;
    waiter_node w(state_);
    w.set_waker(detail::current_waker("cancellation_token::cancelled"));
    if (enqueue(*state_, w) != detail::wait_status::waiting) return;
    // Nothing is consumed (every waiter sees the cancellation), so no select claim: a
    // branch waiting here claims only when it ends (child_group::returned).
    detail::wait_for_grant(
        w, "cancellation_token::cancelled", where,
        [&]() noexcept { return cancel_waiter(*state_, w); }, [](std::uint32_t) noexcept {});
}

}  // namespace weft
