// tcp_stream's two socket backends (net::io_backend): which one a runtime gets, the fallback
// when the kernel refuses a ring, conservation of bytes while reads are aborted at random
// moments on each backend, and a busy worker still handing its queued transfers over.
#include "support/bounded.hpp"
#include "support/harness.hpp"

#include <weft/detail/fault_injection.hpp>
#include <weft/net.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

weft::runtime runtime_on(weft::net::io_backend b, std::size_t workers = 2) {
    return weft::builder::multi_thread().worker_threads(workers).socket_io(b).build();
}

std::string addr_of(const asio::ip::tcp::endpoint& ep) {
    return fmt::format("127.0.0.1:{}", ep.port());
}

/// A connected pair: (the accepted end, the connecting end).
std::pair<weft::net::tcp_stream, weft::net::tcp_stream> connected_pair() {
    auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
    auto c = weft::net::tcp_stream::connect(addr_of(listener.local_addr()));
    return {listener.accept(), std::move(c)};
}

const char* name_of(weft::net::io_backend b) {
    return b == weft::net::io_backend::io_uring ? "io_uring" : "reactor";
}

}  // namespace

TEST_CASE("net::backend reports the socket backend a runtime asked for", "[net][io_backend]") {
    CHECK_THROWS_WITH(weft::net::backend(), Catch::Contains("outside a task"));
    {
        auto rt = runtime_on(weft::net::io_backend::reactor);
        CHECK(rt.block_on([] { return weft::net::backend(); }) == weft::net::io_backend::reactor);
    }
    {
        auto rt = runtime_on(weft::net::io_backend::io_uring);
        auto got = rt.block_on([] { return weft::net::backend(); });
#if WEFT_TEST_IO_URING
        // The build has io_uring: a kernel that refuses the ring fails here, rather than the
        // suite quietly testing the reactor twice.
        CHECK(got == weft::net::io_backend::io_uring);
#else
        CHECK(got == weft::net::io_backend::reactor);
#endif
    }
    {
        auto rt = runtime_on(weft::net::io_backend::automatic);
        auto got = rt.block_on([] { return weft::net::backend(); });
        CHECK(got != weft::net::io_backend::automatic);
    }
    CHECK_THROWS_WITH(
        weft::builder::multi_thread().socket_io(static_cast<weft::net::io_backend>(7)).build(),
        Catch::Contains("socket_io"));
}

TEST_CASE("net: a ring the kernel refuses leaves tcp_stream on the reactor", "[net][io_backend]") {
    weft::detail::fault::reset_on_exit reset;
    // every worker's ring setup fails, as under a seccomp filter that denies io_uring_setup
    weft::detail::fault::arm(weft::detail::fault::point::io_uring_setup, 1, 1'000);
    auto rt = runtime_on(weft::net::io_backend::io_uring);
    auto [backend, echoed] = rt.block_on([] {
        auto [s, c] = connected_pair();
        c.write_all(asio::buffer("ping", 4));
        char buf[4];
        s.read_exact(asio::buffer(buf));
        return std::pair(weft::net::backend(), std::string(buf, 4));
    });
    CHECK(backend == weft::net::io_backend::reactor);
    CHECK(echoed == "ping");
#if WEFT_TEST_IO_URING
    CHECK(weft::detail::fault::injected(weft::detail::fault::point::io_uring_setup) >= 1);
#endif
}

// Conservation under cancellation: every byte written is read exactly once, in order, while
// the reads are aborted at random moments (before they start, while they wait, as the data
// arrives). tcp_stream::read_some promises that an aborted read took nothing, and that one
// whose data arrived in the same instant returns it: on the ring, the abort's cancel races
// the kernel's receive, and a receive that won must not lose its bytes.
TEST_CASE("tcp_stream reads aborted at random lose no byte and take none twice",
          "[net][io_backend][cancel]") {
    for (auto b : {weft::net::io_backend::reactor, weft::net::io_backend::io_uring}) {
        CAPTURE(name_of(b));
        const std::size_t total = weft::test::scaled(60'000);
        auto r = weft::test::run_bounded(60s, [b, total] {
            auto rt = runtime_on(b);
            return rt.block_on([total] {
                auto [s, c] = connected_pair();
                std::string sent(total, '\0');
                std::mt19937 gen(12345);
                for (char& ch : sent) ch = static_cast<char>(gen());
                auto writer = weft::spawn([&c, &sent] {
                    std::mt19937 g(7);
                    std::size_t at = 0;
                    while (at < sent.size()) {
                        std::size_t n = std::min<std::size_t>(1 + g() % 300, sent.size() - at);
                        c.write_all(asio::buffer(sent.data() + at, n));
                        at += n;
                        if (g() % 4 == 0) weft::sleep_for(std::chrono::microseconds(g() % 200));
                    }
                    c.shutdown_write();
                });
                std::string got;
                bool eof = false;
                std::size_t cancelled = 0;
                std::mt19937 g(99);
                while (!eof) {
                    auto reader = weft::spawn([&s, &got, &eof] {
                        char buf[512];
                        std::size_t n = s.read_some(asio::buffer(buf));
                        // Recorded before any further cancellation point: whatever the join
                        // reports, these bytes were taken from the stream.
                        got.append(buf, n);
                        if (n == 0) eof = true;
                    });
                    switch (g() % 4) {
                        case 0:
                            break;  // abort before it ran (or as it starts)
                        case 1:
                            for (unsigned i = g() % 4; i > 0; --i) weft::yield_now();
                            break;
                        case 2:
                            weft::sleep_for(std::chrono::microseconds(g() % 300));
                            break;
                        default:
                            weft::sleep_for(5ms);
                            break;  // mostly completes first
                    }
                    reader.abort();
                    try {
                        reader.join();
                    } catch (const weft::join_error& e) {
                        if (!e.is_cancelled()) throw;
                        ++cancelled;
                    }
                }
                writer.join();
                return std::tuple(got == sent, got.size(), sent.size(), cancelled);
            });
        });
        REQUIRE(r.has_value());
        auto [same, got_size, sent_size, cancelled] = *r;
        CHECK(got_size == sent_size);
        CHECK(same);
        CHECK(cancelled > 0);  // the aborts did land on reads
    }
}

// A worker that never runs out of tasks (here one that yields without end) must still hand
// the transfers its tasks queued on the ring to the kernel: its maintenance pass does, at
// least every 61 tasks. Without it the read below would wait as long as the yielding lasts.
TEST_CASE("a worker that is never idle still performs its tasks' queued transfers",
          "[net][io_backend]") {
    auto r = weft::test::run_bounded(30s, [] {
        auto rt =
            weft::builder::current_thread().socket_io(weft::net::io_backend::io_uring).build();
        return rt.block_on([] {
            auto [s, c] = connected_pair();
            std::atomic<bool> done{false};
            std::uint64_t spins = 0;
            auto hog = weft::spawn([&] {
                const auto give_up = std::chrono::steady_clock::now() + 10s;
                while (!done.load() && std::chrono::steady_clock::now() < give_up) {
                    ++spins;
                    weft::yield_now();
                }
            });
            auto writer = weft::spawn([&c] { c.write_all(asio::buffer("hello", 5)); });
            char buf[5];
            s.read_exact(asio::buffer(buf));
            const bool hog_still_running = !done.load() && !hog.is_finished();
            done = true;
            hog.join();
            writer.join();
            return std::tuple(std::string(buf, 5), hog_still_running, spins);
        });
    });
    REQUIRE(r.has_value());
    auto [text, hog_still_running, spins] = *r;
    CHECK(text == "hello");
    CHECK(hog_still_running);  // the read completed while the worker was never idle
    CHECK(spins > 0);
}
