// Helpers shared by the channel tests: bounded waits inside tasks, and running a test-owned
// io_context for the Asio forms.
#pragma once

#include "support/harness.hpp"

#include <weft/task/join_error.hpp>
#include <weft/task/join_handle.hpp>

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>

namespace weft::test {

/// Polls `pred` from a task (1 ms sleeps) until it holds or `limit` passes; returns pred().
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        weft::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

/// Lets other tasks run for a while (a parked task has certainly parked afterwards).
inline void settle(std::chrono::milliseconds d = std::chrono::milliseconds(20)) {
    weft::sleep_for(d);
}

/// A value whose move constructor throws once `armed` is set (once: it clears it), leaving
/// its source intact (strong guarantee), for the paths that must survive a throwing move.
struct move_bomb {
    explicit move_bomb(int x)
        : v(x) {}
    move_bomb(move_bomb&& o)
        : v(o.v),
          armed(o.armed) {
        if (armed->exchange(false)) throw std::runtime_error("move_bomb: the move throws");
    }
    move_bomb& operator=(move_bomb&&) noexcept = default;
    int v;
    std::shared_ptr<std::atomic<bool>> armed = std::make_shared<std::atomic<bool>>(false);
};

/// For the give-back tests: with `h` parked in a recv of `int` from a channel of move_bomb,
/// sends move_bomb(7) through `send`, arms the value's next move when `throwing` (the move
/// that would put it back), aborts `h` and joins it. Returns what the recv returned, -1 if
/// `h` ended cancelled, -2 if it failed otherwise.
template <class Send>
int hand_over_then_abort(Send&& send, weft::join_handle<int>& h, bool throwing) {
    move_bomb b(7);
    auto armed = b.armed;
    send(std::move(b));
    armed->store(throwing);
    h.abort();
    try {
        return h.join();
    } catch (const weft::join_error& e) {
        return e.is_cancelled() ? -1 : -2;
    }
}

/// Runs `ioc` on the calling thread until `done()` or 5 s pass; true if done() held.
inline bool run_until(boost::asio::io_context& ioc, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    ioc.restart();
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        ioc.run_for(std::chrono::milliseconds(2));
        ioc.restart();
    }
    return true;
}

}  // namespace weft::test
