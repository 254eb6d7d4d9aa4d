// Helpers shared by the sync tests: bounded waits and driving a test-owned io_context.
#pragma once

#include "support/harness.hpp"

#include <weft/sync.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <thread>

namespace sync_test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// Polls `done` from a plain thread until it holds or `limit` passes; returns done().
template <class Pred>
bool wait_until(Pred done, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return done();
}

/// Runs `ioc` on the calling thread until `done` holds or `limit` passes; returns done().
template <class Pred>
bool run_until(asio::io_context& ioc, Pred done,
               std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        if (ioc.stopped()) ioc.restart();
        ioc.run_one_for(std::chrono::milliseconds(5));
    }
    return done();
}

/// Lets every other ready task of a current_thread runtime run until it parks.
inline void let_others_park(int rounds = 3) {
    for (int i = 0; i < rounds; ++i) weft::yield_now();
}

}  // namespace sync_test
