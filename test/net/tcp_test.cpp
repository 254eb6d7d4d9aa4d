// weft::net TCP: echo with many connections, end of stream, peer reset, read_line, split,
// cancellation of accept and read, address parsing and resolution.
#include "support/harness.hpp"

#include <weft/asio.hpp>
#include <weft/net.hpp>
#include <weft/time.hpp>

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

std::string addr_of(const asio::ip::tcp::endpoint& ep) {
    return fmt::format("127.0.0.1:{}", ep.port());
}

/// Deterministic bytes for connection `id`.
std::string pattern(std::size_t id, std::size_t len) {
    std::string s(len, '\0');
    std::uint32_t x = static_cast<std::uint32_t>(id) * 2654435761U + 1;
    for (char& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return s;
}

/// Waits for a task to finish and reports how: "ok", "cancelled", or the exception text.
template <class T>
std::string outcome(weft::join_handle<T>& h) {
    try {
        h.join();
        return "ok";
    } catch (const weft::join_error& e) {
        if (e.is_cancelled()) return "cancelled";
        try {
            std::rethrow_exception(e.exception());
        } catch (const std::exception& inner) {
            return inner.what();
        }
    }
}

}  // namespace

TEST_CASE("echo over loopback with 100 concurrent connections", "[net][tcp]") {
    auto rt = weft::test::make_runtime();
    const std::size_t conns = 100;
    const std::size_t len = 4096 + weft::test::scaled(60000);
    std::vector<int> ok = rt.block_on([&] {
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        std::string addr = addr_of(listener.local_addr());
        auto server = weft::spawn([&listener, conns] {
            std::vector<weft::join_handle<void>> sessions;
            for (std::size_t i = 0; i < conns; ++i) {
                sessions.push_back(weft::spawn([s = listener.accept()]() mutable {
                    char buf[1500];
                    while (std::size_t n = s.read_some(asio::buffer(buf)))
                        s.write_all(asio::buffer(buf, n));
                    s.shutdown_write();
                }));
            }
            for (auto& h : sessions) h.join();
        });
        std::vector<weft::join_handle<int>> clients;
        for (std::size_t id = 0; id < conns; ++id) {
            clients.push_back(weft::spawn([id, len, addr] {
                auto [rd, wr] = weft::net::tcp_stream::connect(addr).split();
                std::string out = pattern(id, len);
                auto writer = weft::spawn([w = std::move(wr), &out, id]() mutable {
                    // Uneven chunks, so reads and writes interleave differently per connection.
                    std::size_t chunk = 1 + (id * 97) % 3000;
                    for (std::size_t off = 0; off < out.size(); off += chunk) {
                        w.write_all(
                            asio::buffer(out.data() + off, std::min(chunk, out.size() - off)));
                    }
                    // w is destroyed here: shuts the sending direction down.
                });
                std::string in;
                char buf[2048];
                while (std::size_t n = rd.read_some(asio::buffer(buf))) in.append(buf, n);
                writer.join();
                return in == out ? 1 : 0;
            }));
        }
        std::vector<int> results;
        for (auto& c : clients) results.push_back(c.join());
        server.join();
        return results;
    });
    CHECK(ok == std::vector<int>(conns, 1));
}

TEST_CASE("end of stream: read_some returns 0, read_exact throws eof", "[net][tcp]") {
    auto rt = weft::test::make_runtime();
    struct result {
        std::size_t first = 0, second = 0;
        std::string data;
        error_code exact;
        std::string partial;
    };
    result r = rt.block_on([] {
        result r;
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        std::string addr = addr_of(listener.local_addr());
        auto client = weft::spawn([addr] {
            for (int i = 0; i < 2; ++i) {
                auto c = weft::net::tcp_stream::connect(addr);
                c.write_all(asio::buffer("abc", 3));
                c.shutdown_write();
                char b;
                c.read_some(asio::buffer(&b, 1));  // wait for the server to close
            }
        });
        {
            auto s = listener.accept();
            char buf[16];
            r.first = s.read_some(asio::buffer(buf));
            r.data.assign(buf, r.first);
            r.second = s.read_some(asio::buffer(buf));
        }
        {
            auto s = listener.accept();
            char buf[5] = {};
            try {
                s.read_exact(asio::buffer(buf));
            } catch (const boost::system::system_error& e) {
                r.exact = e.code();
            }
            r.partial.assign(buf, 3);
        }
        client.join();
        return r;
    });
    CHECK(r.first == 3);
    CHECK(r.data == "abc");
    CHECK(r.second == 0);
    CHECK(r.exact == asio::error::eof);
    CHECK(r.partial == "abc");
}

TEST_CASE("a peer reset is an error on that connection only", "[net][tcp]") {
    auto rt = weft::test::make_runtime();
    struct result {
        error_code read_error, write_error;
        std::string other;
    };
    result r = rt.block_on([] {
        result r;
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        std::string addr = addr_of(listener.local_addr());
        auto healthy = weft::net::tcp_stream::connect(addr);
        auto healthy_peer = listener.accept();
        {
            auto victim = weft::net::tcp_stream::connect(addr);
            auto s = listener.accept();
            auto reader = weft::spawn([&s, &r] {
                char buf[16];
                try {
                    s.read_some(asio::buffer(buf));
                } catch (const boost::system::system_error& e) {
                    r.read_error = e.code();
                }
                try {
                    std::string big(1 << 20, 'x');
                    for (int i = 0; i < 8; ++i) s.write_all(asio::buffer(big));
                } catch (const boost::system::system_error& e) {
                    r.write_error = e.code();
                }
            });
            weft::sleep_for(10ms);  // the reader is parked in read_some
            victim.socket().set_option(asio::socket_base::linger(true, 0));
            victim.socket().close();  // RST
            reader.join();
        }
        healthy.write_all(asio::buffer("still here", 10));
        char buf[10];
        healthy_peer.read_exact(asio::buffer(buf));
        r.other.assign(buf, 10);
        return r;
    });
    CHECK(r.read_error == asio::error::connection_reset);
    CHECK((r.write_error == asio::error::connection_reset ||
           r.write_error == asio::error::broken_pipe));
    CHECK(r.other == "still here");
}

TEST_CASE("a reset reads as the operation and the reason: no source location", "[net][tcp]") {
    auto rt = weft::test::make_runtime();
    struct result {
        std::string line_what, fiber_what;
        error_code line_code, fiber_code;
    };
    result r = rt.block_on([] {
        result r;
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        std::string addr = addr_of(listener.local_addr());
        // Each reader is parked in its read when the peer resets, so the error comes from
        // Asio's reactor (whose error_code carries the location of Asio's own header).
        auto reset_while_parked = [&](auto read) {
            auto victim = weft::net::tcp_stream::connect(addr);
            auto s = listener.accept();
            std::string what;
            error_code code;
            auto reader = weft::spawn([&] {
                try {
                    read(s);
                } catch (const boost::system::system_error& e) {
                    what = e.what();
                    code = e.code();
                }
            });
            weft::sleep_for(10ms);
            victim.socket().set_option(asio::socket_base::linger(true, 0));
            victim.socket().close();  // RST
            weft::timeout(10s, [&] { reader.join(); });
            return std::make_pair(what, code);
        };
        std::tie(r.line_what, r.line_code) = reset_while_parked([](weft::net::tcp_stream& s) {
            std::string line;
            s.read_line(line);
        });
        std::tie(r.fiber_what, r.fiber_code) = reset_while_parked([](weft::net::tcp_stream& s) {
            char buf[16];
            s.socket().async_read_some(asio::buffer(buf), weft::use_fiber);
        });
        return r;
    });
    INFO(r.line_what);
    CHECK(r.line_code == asio::error::connection_reset);
    CHECK(r.line_what == "weft::net::tcp_stream::read_line: " + r.line_code.message());
    CHECK(r.line_what.find("Connection reset") != std::string::npos);
    CHECK(r.line_what.find(".hpp") == std::string::npos);
    INFO(r.fiber_what);
    CHECK(r.fiber_code == asio::error::connection_reset);
    CHECK(r.fiber_what == r.fiber_code.message());
    CHECK(r.fiber_what.find(".hpp") == std::string::npos);
}

TEST_CASE("read_line buffers, mixes with read_some and is cancel-safe", "[net][tcp]") {
    auto rt = weft::test::make_runtime();
    struct result {
        std::vector<std::string> lines;
        std::string raw;
        std::string after_abort;
        std::string abort_outcome;
        std::size_t eof = 99;
    };
    result r = rt.block_on([] {
        result r;
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        auto c = weft::net::tcp_stream::connect(addr_of(listener.local_addr()));
        auto s = listener.accept();

        c.write_all(asio::buffer(std::string("one\ntw")));
        weft::sleep_for(2ms);
        c.write_all(asio::buffer(std::string("o\n\nthree\nraw bytes")));
        for (int i = 0; i < 4; ++i) {
            std::string line;
            s.read_line(line);
            r.lines.push_back(line);
        }
        char buf[64];
        std::size_t n = s.read_some(asio::buffer(buf));  // the buffered rest, no socket read
        r.raw.assign(buf, n);

        // An aborted read_line leaves its partial line buffered for the next reader.
        c.write_all(asio::buffer(std::string("par")));
        auto reader = weft::spawn([&s] {
            std::string line;
            s.read_line(line);
            return line;
        });
        weft::sleep_for(10ms);
        reader.abort();
        r.abort_outcome = outcome(reader);
        c.write_all(asio::buffer(std::string("tial\nlast")));
        c.shutdown_write();
        s.read_line(r.after_abort);
        std::string last;
        s.read_line(last);
        r.lines.push_back(last);
        std::string none;
        r.eof = s.read_line(none);
        return r;
    });
    CHECK(r.lines == std::vector<std::string>{"one\n", "two\n", "\n", "three\n", "last"});
    CHECK(r.raw == "raw bytes");
    CHECK(r.abort_outcome == "cancelled");
    CHECK(r.after_abort == "partial\n");
    CHECK(r.eof == 0);
}

TEST_CASE("read_line with max_length refuses a longer line, naming the limit", "[net][tcp]") {
    auto rt = weft::test::make_runtime();
    struct result {
        std::string ok_line, error, half_error;
        std::size_t buffered_after = 0;
    };
    result r = rt.block_on([] {
        result r;
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        auto c = weft::net::tcp_stream::connect(addr_of(listener.local_addr()));
        auto s = listener.accept();
        c.write_all(asio::buffer(std::string("short\n") + std::string(100, 'x')));
        s.read_line(r.ok_line, 16);  // 6 bytes: fine
        try {
            std::string line;
            s.read_line(line, 16);  // 100 bytes without '\n'
        } catch (const std::length_error& e) {
            r.error = e.what();
        }
        // The refused bytes are still there for a raw read; nothing was appended or lost.
        std::string rest(100, '\0');
        s.read_exact(asio::buffer(rest));
        r.buffered_after = static_cast<std::size_t>(std::count(rest.begin(), rest.end(), 'x'));
        // The same through a split read half, with a line that ends past the limit.
        c.write_all(asio::buffer(std::string(40, 'y') + "\n"));
        auto [rh, wh] = std::move(s).split();
        try {
            std::string line;
            rh.read_line(line, 16);
        } catch (const std::length_error& e) {
            r.half_error = e.what();
        }
        return r;
    });
    CHECK(r.ok_line == "short\n");
    CHECK(r.error.find("longer than 16 bytes") != std::string::npos);
    CHECK(r.buffered_after == 100);
    CHECK(r.half_error.find("longer than 16 bytes") != std::string::npos);
}

TEST_CASE("aborting a task blocked in accept or read_some", "[net][tcp][cancel]") {
    auto rt = weft::test::make_runtime();
    struct result {
        std::string accept_outcome, read_outcome;
        std::chrono::nanoseconds accept_took{}, read_took{};
        bool accepted_after = false;
        std::size_t peer_eof = 99;
    };
    result r = rt.block_on([] {
        result r;
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        std::string addr = addr_of(listener.local_addr());

        auto acceptor = weft::spawn([&listener] { listener.accept(); });
        weft::sleep_for(10ms);
        auto t0 = std::chrono::steady_clock::now();
        acceptor.abort();
        r.accept_outcome = outcome(acceptor);
        r.accept_took = std::chrono::steady_clock::now() - t0;

        // The listener still works, and no connection was lost to the aborted accept.
        auto c = weft::net::tcp_stream::connect(addr);
        auto s = listener.accept();
        r.accepted_after = s.peer_addr() == c.local_addr();

        auto reader = weft::spawn([s = std::move(s)]() mutable {
            char buf[8];
            s.read_some(asio::buffer(buf));
        });
        weft::sleep_for(10ms);
        t0 = std::chrono::steady_clock::now();
        reader.abort();
        r.read_outcome = outcome(reader);
        r.read_took = std::chrono::steady_clock::now() - t0;
        // The aborted task's stream was closed cleanly: the peer sees end of stream.
        char b;
        r.peer_eof = c.read_some(asio::buffer(&b, 1));
        return r;
    });
    CHECK(r.accept_outcome == "cancelled");
    CHECK(r.accept_took < 1s);
    CHECK(r.accepted_after);
    CHECK(r.read_outcome == "cancelled");
    CHECK(r.read_took < 1s);
    CHECK(r.peer_eof == 0);
}

TEST_CASE("a timeout around read_some leaves the stream usable", "[net][tcp][cancel]") {
    auto rt = weft::test::make_runtime();
    auto [timed_out, got] = rt.block_on([] {
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        auto c = weft::net::tcp_stream::connect(addr_of(listener.local_addr()));
        auto s = listener.accept();
        char buf[8];
        bool timed_out = false;
        try {
            weft::timeout(20ms, [&] { return s.read_some(asio::buffer(buf)); });
        } catch (const weft::elapsed&) {
            timed_out = true;
        }
        c.write_all(asio::buffer("late", 4));
        std::size_t n = s.read_some(asio::buffer(buf));
        return std::pair(timed_out, std::string(buf, n));
    });
    CHECK(timed_out);
    CHECK(got == "late");
}

TEST_CASE("split halves are used by two tasks at once", "[net][tcp]") {
    auto rt = weft::test::make_runtime();
    const std::size_t rounds = weft::test::scaled(2000);
    auto [sum, peer_eof] = rt.block_on([rounds] {
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        auto c = weft::net::tcp_stream::connect(addr_of(listener.local_addr()));
        c.set_nodelay(true);
        auto [rd, wr] = listener.accept().split();
        // The server's write half sends numbers while its read half receives them: both
        // directions busy at once, from two tasks that may run on two workers.
        auto sender = weft::spawn([w = std::move(wr), rounds]() mutable {
            for (std::uint32_t i = 0; i < rounds; ++i) w.write_all(asio::buffer(&i, sizeof i));
        });
        auto receiver = weft::spawn([r = std::move(rd), rounds]() mutable {
            std::uint64_t total = 0;
            for (std::uint32_t i = 0; i < rounds; ++i) {
                std::uint32_t v = 0;
                r.read_exact(asio::buffer(&v, sizeof v));
                total += v;
            }
            return total;
        });
        auto echo = weft::spawn([&c, rounds] {
            for (std::size_t i = 0; i < rounds; ++i) {
                std::uint32_t v = 0;
                c.read_exact(asio::buffer(&v, sizeof v));
                c.write_all(asio::buffer(&v, sizeof v));
            }
        });
        sender.join();
        echo.join();
        std::uint64_t total = receiver.join();
        char b;
        std::size_t eof = c.read_some(asio::buffer(&b, 1));  // the write half is gone: FIN
        return std::pair(total, eof);
    });
    CHECK(sum == static_cast<std::uint64_t>(rounds) * (rounds - 1) / 2);
    CHECK(peer_eof == 0);
}

TEST_CASE("bad addresses throw invalid_argument naming them", "[net][address]") {
    auto rt = weft::test::make_runtime();
    const std::vector<std::string> bad = {
        "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:8x", ":80", "[::1",
        "[::1]",     "[::1]80",    "::1:80",          "[nope]:80",    "",    "127.0.0.1:-1"};
    std::vector<std::string> failures = rt.block_on([&] {
        std::vector<std::string> failures;
        for (const std::string& a : bad) {
            auto check = [&](const char* what, auto&& f) {
                try {
                    f();
                    failures.push_back(fmt::format("{}(\"{}\") did not throw", what, a));
                } catch (const std::invalid_argument& e) {
                    if (std::string(e.what()).find("\"" + a + "\"") == std::string::npos) {
                        failures.push_back(
                            fmt::format("{}: message without the address: {}", what, e.what()));
                    }
                } catch (const std::exception& e) {
                    failures.push_back(
                        fmt::format("{}(\"{}\") threw something else: {}", what, a, e.what()));
                }
            };
            check("tcp_listener::bind", [&] { weft::net::tcp_listener::bind(a); });
            check("tcp_stream::connect", [&] { weft::net::tcp_stream::connect(a); });
            check("udp_socket::bind", [&] { weft::net::udp_socket::bind(a); });
        }
        return failures;
    });
    for (const auto& f : failures) FAIL_CHECK(f);
    CHECK(failures.empty());
}

TEST_CASE("names resolve on the blocking pool and each address is tried", "[net][address]") {
    auto rt = weft::test::make_runtime();
    struct result {
        std::string echoed;
        bool v6_ok = false;
        error_code refused;
        std::string from_pool;
    };
    result r = rt.block_on([] {
        result r;
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        auto port = listener.local_addr().port();
        // "localhost" may resolve to ::1 first, where nothing listens: the next address wins.
        auto server = weft::spawn([&listener] {
            auto s = listener.accept();
            char b[2];
            s.read_exact(asio::buffer(b));
            s.write_all(asio::buffer(b));
        });
        auto c = weft::net::tcp_stream::connect(fmt::format("localhost:{}", port));
        c.write_all(asio::buffer("hi", 2));
        char b[2];
        c.read_exact(asio::buffer(b));
        r.echoed.assign(b, 2);
        server.join();

        try {
            auto l6 = weft::net::tcp_listener::bind("[::1]:0");
            r.v6_ok = l6.local_addr().address().is_v6();
        } catch (const boost::system::system_error&) {
            r.v6_ok = true;  // no IPv6 loopback in this sandbox: nothing to check
        }

        // A port with nothing listening: the connect error, not a hang.
        std::string closed_addr;
        {
            auto closed = weft::net::tcp_listener::bind("127.0.0.1:0");
            closed_addr = addr_of(closed.local_addr());
        }
        try {
            weft::net::tcp_stream::connect(closed_addr);
        } catch (const boost::system::system_error& e) {
            r.refused = e.code();
        }

        // From the blocking pool the calls block that thread instead.
        auto pool = weft::spawn_blocking([port] {
            auto c2 = weft::net::tcp_stream::connect(fmt::format("127.0.0.1:{}", port));
            return c2.peer_addr().port() == port ? std::string("ok") : std::string("wrong port");
        });
        auto s2 = listener.accept();
        r.from_pool = pool.join();
        return r;
    });
    CHECK(r.echoed == "hi");
    CHECK(r.v6_ok);
    CHECK(r.refused == asio::error::connection_refused);
    CHECK(r.from_pool == "ok");
}

TEST_CASE("net needs a runtime", "[net]") {
    CHECK_THROWS_AS(weft::net::tcp_listener::bind("127.0.0.1:0"), weft::no_runtime);
    CHECK_THROWS_AS(weft::net::udp_socket::bind("127.0.0.1:0"), weft::no_runtime);
    CHECK_THROWS_AS(weft::net::tcp_stream::connect("127.0.0.1:1"), weft::no_runtime);
}

TEST_CASE("net on a current_thread runtime", "[net][tcp]") {
    auto rt = weft::builder::current_thread().build();
    std::string got = rt.block_on([] {
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        auto client = weft::spawn([addr = addr_of(listener.local_addr())] {
            auto c = weft::net::tcp_stream::connect(addr);
            c.write_all(asio::buffer("ping", 4));
            char b[4];
            c.read_exact(asio::buffer(b));
            return std::string(b, 4);
        });
        auto s = listener.accept();
        char b[4];
        s.read_exact(asio::buffer(b));
        s.write_all(asio::buffer(b));
        return client.join();
    });
    CHECK(got == "ping");
}

TEST_CASE("a select branch that resolves a name does not hold the race for the rest of it",
          "[net][select]") {
    // A name is resolved on the blocking pool and joined; that join used to claim the select
    // the caller is a branch of, so in `select(connect("host:port"), sleep_for(d))` a connect
    // that went on after the lookup kept the sleep branch from winning until it ended. Here the
    // first branch resolves "localhost" (binding a listener), then waits on far longer than
    // the second branch's sleep: the sleep must win on time.
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto t0 = std::chrono::steady_clock::now();
        auto ev = weft::select(
            [] {
                auto l = weft::net::tcp_listener::bind("localhost:0");
                weft::sleep_for(10s);
                return l.local_addr().port();
            },
            [] { weft::sleep_for(30ms); });
        return std::make_pair(ev.index(), std::chrono::steady_clock::now() - t0);
    });
    CHECK(r.first == 1);
    CHECK(r.second < 5s);
}
