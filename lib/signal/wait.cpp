// weft::signal: one asio::signal_set per runtime, owned by an Asio service on the runtime's
// shard 0 so it lives exactly as long as that io_context (the life of the runtime).
//
// State (signal_service, under mu_): the set itself, the signal numbers added so far, the
// deliveries nobody was waiting for (pending_, one bit per number), and an intrusive list of
// waiters (nodes on the waiting tasks' stacks). One async_wait on the set is outstanding
// whenever the set is non-empty; its handler runs on shard 0, hands the number to every
// waiter that wants it (or records it as pending), re-arms, and wakes the waiters outside
// the lock (wakers hold their own reference). A waiter that is cancelled unlinks itself
// under the lock; one that was already given a number returns it instead (cancel-safe).
//
// Service order: the set is created in this service's constructor, so Asio's
// signal_set_service is registered first and shut down after this one; shutdown() destroys
// the set while that service still exists.
#include "../net/address.hpp"

#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/detail/task_header.hpp>
#include <weft/detail/waker.hpp>
#include <weft/signal/wait.hpp>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/intrusive/list.hpp>
#include <boost/system/system_error.hpp>

#include <fmt/core.h>

#include <csignal>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

namespace weft::signal {
namespace {
namespace asio = boost::asio;

constexpr int max_signal = 64;  // Linux: 1..64

std::uint64_t bit(int signo) noexcept { return std::uint64_t{1} << (signo - 1); }

struct waiter
    : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>> {
    std::uint64_t mask = 0;
    int delivered = 0;     // guarded by the service's mutex
    bool refused = false;  // guarded too: its select claim was refused, nothing delivered
    weft::detail::waker w;
    const weft::detail::claim_record* claimer = nullptr;  // a select branch claims before delivery
};

class signal_service : public asio::execution_context::service {
   public:
    static asio::execution_context::id id;

    explicit signal_service(asio::execution_context& ctx)
        : asio::execution_context::service(ctx),
          set_(std::in_place, static_cast<asio::io_context&>(ctx)) {}

    int wait(std::initializer_list<int> signals, std::source_location where) {
        std::uint64_t mask = 0;
        for (int s : signals) {
            if (s < 1 || s > max_signal) {
                throw std::invalid_argument(
                    fmt::format("weft::signal::wait: {} is not a signal number", s));
            }
            mask |= bit(s);
        }
        if (mask == 0) throw std::invalid_argument("weft::signal::wait: no signal given");
        weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
        weft::detail::consume_budget(where);
        for (;;) {  // a refused select branch retries from here once the race reopens
            if (int s = wait_once(mask, where)) return s;
            weft::detail::wait_reopened("signal::wait", where);  // took nothing
        }
    }

   private:
    // One attempt: the signal taken, or 0 when a select claim was refused.
    int wait_once(std::uint64_t mask, std::source_location where) {
        waiter self;
        self.claimer = weft::detail::current_claimer();
        {
            std::unique_lock lock(mu_);
            if (!set_) throw std::logic_error("weft::signal::wait: the runtime is shutting down");
            add_locked(mask);
            // Another branch of this select holds the race: the pending signal stays.
            if ((pending_ & mask) && !weft::detail::claim_select(self.claimer)) return 0;
            if (int s = take_pending_locked(mask)) return s;
            self.mask = mask;
            self.w = weft::detail::current_waker("weft::signal::wait");
            waiters_.push_back(self);
            arm_locked();
        }
        for (;;) {
            bool cancelled = false;
            {
                std::lock_guard lock(mu_);
                if (self.delivered != 0) return self.delivered;
                if (self.refused) return 0;  // on_signal dequeued it
                if (closed_ || weft::detail::cancellation_requested()) {
                    waiters_.erase(waiters_.iterator_to(self));
                    if (closed_)
                        throw std::logic_error("weft::signal::wait: the runtime shut down");
                    cancelled = true;
                }
            }
            if (cancelled) {
                weft::detail::throw_if_cancelled();
                throw task_cancelled{};  // not reached: cancellation was requested
            }
            weft::detail::park("signal::wait", where);
        }
    }

    void shutdown() override {
        std::vector<weft::detail::waker> wake;
        {
            std::lock_guard lock(mu_);
            closed_ = true;
            set_.reset();  // cancels the outstanding async_wait; its handler is destroyed
            for (waiter& w : waiters_) wake.push_back(std::move(w.w));
        }
        for (auto& w : wake) w.wake();
    }

    void add_locked(std::uint64_t mask) {
        for (int s = 1; s <= max_signal; ++s) {
            if ((mask & bit(s)) && !(added_ & bit(s))) {
                boost::system::error_code ec;
                set_->add(s, ec);
                if (ec) {
                    throw weft::detail::readable_system_error(
                        ec, fmt::format("weft::signal::wait: cannot handle signal {}", s));
                }
                added_ |= bit(s);
            }
        }
    }

    int take_pending_locked(std::uint64_t mask) noexcept {
        std::uint64_t hit = pending_ & mask;
        if (hit == 0) return 0;
        int s = __builtin_ctzll(hit) + 1;
        pending_ &= ~bit(s);
        return s;
    }

    void arm_locked() {
        if (armed_ || !set_) return;
        armed_ = true;
        set_->async_wait(
            [this](const boost::system::error_code& ec, int signo) { on_signal(ec, signo); });
    }

    void on_signal(const boost::system::error_code& ec, int signo) {
        std::vector<weft::detail::waker> wake;
        {
            std::lock_guard lock(mu_);
            armed_ = false;
            if (ec || !set_) return;  // the set was destroyed
            bool taken = false;
            if (signo >= 1 && signo <= max_signal) {
                for (auto it = waiters_.begin(); it != waiters_.end();) {
                    waiter& w = *it;
                    if (!(w.mask & bit(signo))) {
                        ++it;
                        continue;
                    }
                    // A waiter whose select race is held by another branch is dequeued and
                    // told so (it retries once the race reopens); the signal goes to the
                    // others or stays pending.
                    if (weft::detail::claim_select(w.claimer)) {
                        w.delivered = signo;
                        taken = true;
                    } else {
                        w.refused = true;
                    }
                    wake.push_back(std::move(w.w));
                    it = waiters_.erase(it);
                }
                if (!taken) pending_ |= bit(signo);
            }
            arm_locked();
        }
        for (auto& w : wake) w.wake();
    }

    std::mutex mu_;
    std::optional<asio::signal_set> set_;
    boost::intrusive::list<waiter, boost::intrusive::constant_time_size<false>> waiters_;
    std::uint64_t added_ = 0;
    std::uint64_t pending_ = 0;
    bool armed_ = false;
    bool closed_ = false;
};

asio::execution_context::id signal_service::id;

signal_service& service_for_caller() {
    asio::io_context& io = net::detail::runtime_home_context("signal::wait");
    return asio::use_service<signal_service>(io);
}

}  // namespace

int wait(std::initializer_list<int> signals, std::source_location where) {
    return service_for_caller().wait(signals, where);
}

void ctrl_c(std::source_location where) { wait({SIGINT}, where); }

}  // namespace weft::signal
