// detail::timer on an Asio steady_timer in the current worker's shard. The state is heap
// allocated so the handler never touches the owner's object after it reported `done`.
#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"

#include <weft/detail/park.hpp>
#include <weft/detail/timer.hpp>
#include <weft/error.hpp>

#include <boost/asio/steady_timer.hpp>

namespace weft::detail {

struct timer::state {
    explicit state(boost::asio::io_context& io, time_point deadline) : t(io, deadline) {}
    boost::asio::steady_timer t;
    std::atomic<bool> done{false};
};

std::chrono::steady_clock::time_point clock_now() { return std::chrono::steady_clock::now(); }

void timer::arm(time_point deadline, waker w) {
    disarm();
    fired_.store(false, std::memory_order_relaxed);
    worker* wk = this_thread_context().w;
    if (!wk) {
        throw no_runtime("weft: timers (timeout, interval) need a runtime: call them from a task");
    }
    state_ = new state(wk->io(), deadline);
    state_->t.async_wait(
        [fired = &fired_, st = state_, w = std::move(w)](const boost::system::error_code& ec) mutable {
            waker local = std::move(w);
            if (!ec) fired->store(true, std::memory_order_release);
            // Ordering: after `done` the owner may free `st` and the timer; only `local`
            // (ours) is used from here on.
            st->done.store(true, std::memory_order_release);
            local.wake();
        });
}

void timer::disarm() noexcept {
    if (!state_) return;
    if (!state_->done.load(std::memory_order_acquire)) {
        state_->t.cancel();
        // The handler wakes the waker it was armed with: the owner, which waits here.
        while (!state_->done.load(std::memory_order_acquire)) park("timer");
    }
    delete state_;
    state_ = nullptr;
}

}  // namespace weft::detail
