// Network faults on loopback, many connections at once: peers that reset (SO_LINGER 0),
// half-close, stall (reads bounded by weft::timeout) or send garbage to a line server, and an
// accept loop that runs out of descriptors (EMFILE) while connections keep arriving.
#include "stress/stress_support.hpp"
#include "support/fd_exhaustion.hpp"

#include <weft/net.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

std::size_t conn_count() { return weft::stress::size(1000, 20); }

// Room for both ends of every connection plus the runtime's own descriptors.
void ensure_fds(std::size_t conns) {
    std::size_t have = weft::stress::raise_fd_limit(2 * conns + 256);
    REQUIRE(have >= 2 * conns + 64);
}

// Runs `client(i)` in `conns` tasks, `parallel` at a time, and returns when all have ended.
template <class Client>
void run_clients(std::size_t conns, std::size_t parallel, Client client) {
    std::vector<weft::join_handle<void>> batch;
    for (std::size_t i = 0; i < conns; ++i) {
        batch.push_back(weft::spawn([&client, i] { client(i); }));
        if (batch.size() == parallel || i + 1 == conns) {
            for (auto& h : batch) h.join();
            batch.clear();
        }
    }
}

// One echo exchange with a fresh connection: the server still serves after the faults.
bool echo_works(const asio::ip::tcp::endpoint& ep) {
    auto s = weft::net::tcp_stream::connect(ep);
    std::string msg = "still alive\n";
    s.write_all(asio::buffer(msg));
    std::string back;
    weft::timeout(5s, [&] { s.read_line(back); });
    return back == msg;
}

// The line server of the garbage test answers a well-formed line.
bool line_server_answers(const asio::ip::tcp::endpoint& ep) {
    auto s = weft::net::tcp_stream::connect(ep);
    std::string msg = "ping\n";
    s.write_all(asio::buffer(msg));
    std::string back;
    weft::timeout(5s, [&] { s.read_line(back); });
    return back == "OK 5\n";
}

}  // namespace

TEST_CASE("net faults: peers that reset (SO_LINGER 0) end only their own connection",
          "[stress][net]") {
    const std::size_t conns = conn_count();
    ensure_fds(conns);
    auto rt = weft::test::make_runtime();
    std::atomic<std::size_t> resets{0}, eofs{0}, other{0}, echoed{0};
    bool served_after = false;
    rt.block_on([&] {
        auto listener =
            std::make_shared<weft::net::tcp_listener>(weft::net::tcp_listener::bind("127.0.0.1:0"));
        auto ep = listener->local_addr();
        auto server = weft::spawn([&, listener] {
            for (std::size_t i = 0; i <= conns; ++i) {  // +1: the final echo check
                weft::spawn([&, s = listener->accept()]() mutable {
                    std::string line;
                    try {
                        for (;;) {
                            line.clear();
                            if (s.read_line(line) == 0) {
                                eofs += 1;
                                return;
                            }
                            s.write_all(asio::buffer(line));
                            echoed += 1;
                        }
                    } catch (const boost::system::system_error& e) {
                        if (e.code() == asio::error::connection_reset ||
                            e.code() == asio::error::broken_pipe) {
                            resets += 1;
                        } else {
                            other += 1;
                        }
                    }
                });
            }
        });
        run_clients(conns, 64, [&](std::size_t i) {
            auto s = weft::net::tcp_stream::connect(ep);
            std::string msg = "hello " + std::to_string(i) + "\n";
            s.write_all(asio::buffer(msg));
            std::string back;
            if (i % 2 == 0) s.read_line(back);  // half of them reset after a full exchange
            s.socket().set_option(asio::socket_base::linger(true, 0));
            s.socket().close();  // RST, not FIN
        });
        served_after = echo_works(ep);
        server.join();
        // Every server-side task has ended (reset or, if the RST raced the read, end of stream).
        auto deadline = weft::time::now() + 20s;
        while (resets.load() + eofs.load() + other.load() < conns + 1 &&
               weft::time::now() < deadline)
            weft::sleep_for(1ms);
    });
    CHECK(served_after);
    CHECK(other.load() == 0);
    CHECK(resets.load() + eofs.load() == conns + 1);
    CHECK(resets.load() > 0);
    CHECK(weft::stress::wait_no_tasks(rt));
    weft::stress::report("net faults: {} peers reset their connection (server saw {} resets, {} "
                         "ends of stream), the server kept serving",
                         conns, resets.load(), eofs.load());
}

TEST_CASE("net faults: half-closed peers read end of stream and still get the reply",
          "[stress][net]") {
    const std::size_t conns = conn_count();
    ensure_fds(conns);
    auto rt = weft::test::make_runtime();
    std::atomic<std::size_t> good{0};
    rt.block_on([&] {
        auto listener =
            std::make_shared<weft::net::tcp_listener>(weft::net::tcp_listener::bind("127.0.0.1:0"));
        auto ep = listener->local_addr();
        auto server = weft::spawn([&, listener] {
            for (std::size_t i = 0; i < conns; ++i) {
                weft::spawn([s = listener->accept()]() mutable {
                    // Read everything until the peer's FIN, then answer on the still-open
                    // direction and close.
                    std::size_t total = 0;
                    char buf[512];
                    for (;;) {
                        std::size_t k = s.read_some(asio::buffer(buf));
                        if (k == 0) break;
                        total += k;
                    }
                    std::string reply = "got " + std::to_string(total) + "\n";
                    s.write_all(asio::buffer(reply));
                });
            }
        });
        run_clients(conns, 64, [&](std::size_t i) {
            auto s = weft::net::tcp_stream::connect(ep);
            std::string body(100 + i % 900, 'x');
            s.write_all(asio::buffer(body));
            s.shutdown_write();
            std::string reply, rest;
            weft::timeout(10s, [&] {
                s.read_line(reply);
                if (s.read_line(rest) != 0) reply += "?";  // then end of stream
            });
            if (reply == "got " + std::to_string(body.size()) + "\n") good += 1;
        });
        server.join();
    });
    CHECK(good.load() == conns);
    CHECK(weft::stress::wait_no_tasks(rt));
    weft::stress::report("net faults: {} half-closed connections: server read 0 at the FIN, "
                         "wrote its reply, peer read it",
                         conns);
}

TEST_CASE("net faults: stalled peers are cut off by weft::timeout on the read", "[stress][net]") {
    const std::size_t conns = conn_count();
    ensure_fds(conns);
    auto rt = weft::test::make_runtime();
    std::atomic<std::size_t> timed_out{0}, unexpected{0}, client_saw_close{0};
    long long took_ms = 0;
    rt.block_on([&] {
        auto listener =
            std::make_shared<weft::net::tcp_listener>(weft::net::tcp_listener::bind("127.0.0.1:0"));
        auto ep = listener->local_addr();
        auto server = weft::spawn([&, listener] {
            for (std::size_t i = 0; i < conns; ++i) {
                weft::spawn([&, s = listener->accept()]() mutable {
                    std::string line;
                    try {
                        weft::timeout(100ms, [&] { s.read_line(line); });
                        unexpected += 1;
                    } catch (const weft::elapsed&) {
                        timed_out += 1;  // the stream is dropped: the peer sees the close
                    }
                });
            }
        });
        auto t0 = std::chrono::steady_clock::now();
        // All connections stall at once (half of them after a partial line).
        run_clients(conns, conns, [&](std::size_t i) {
            auto s = weft::net::tcp_stream::connect(ep);
            if (i % 2) s.write_all(asio::buffer(std::string("partial line, no newline")));
            char b;
            try {
                weft::timeout(20s, [&] {
                    if (s.read_some(asio::buffer(&b, 1)) == 0) client_saw_close += 1;
                });
            } catch (const boost::system::system_error&) {
                client_saw_close += 1;  // a reset is a close too
            }
        });
        took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        server.join();
    });
    CHECK(timed_out.load() == conns);
    CHECK(unexpected.load() == 0);
    CHECK(client_saw_close.load() == conns);
    CHECK(took_ms < 20'000);
    CHECK(weft::stress::wait_no_tasks(rt));
    weft::stress::report("net faults: {} stalled peers at once, each read cut off by a 100 ms "
                         "timeout; all closed in {} ms",
                         conns, took_ms);
}

TEST_CASE("net faults: garbage sent to a line server gets a bounded-length error and no crash",
          "[stress][net]") {
    const std::size_t conns = conn_count();
    ensure_fds(conns);
    constexpr std::size_t max_line = 4096;
    auto rt = weft::test::make_runtime();
    std::atomic<std::size_t> too_long{0}, lines{0}, ended{0}, errors{0};
    bool served_after = false;
    std::mutex stall_mu;
    std::vector<std::string> stalls;
    rt.block_on([&] {
        auto listener =
            std::make_shared<weft::net::tcp_listener>(weft::net::tcp_listener::bind("127.0.0.1:0"));
        auto ep = listener->local_addr();
        auto server = weft::spawn([&, listener] {
            for (std::size_t i = 0; i <= conns; ++i) {
                weft::spawn([&, s = listener->accept()]() mutable {
                    // weft's read_line has no length limit (it buffers until '\n' or the end
                    // of the stream), so the bound is checked on each line it returns.
                    std::string line;
                    try {
                        for (;;) {
                            line.clear();
                            if (s.read_line(line) == 0) break;
                            if (line.size() > max_line) {
                                too_long += 1;
                                std::string err = "ERR line too long\n";
                                s.write_all(asio::buffer(err));
                                break;
                            }
                            lines += 1;
                            std::string ok = "OK " + std::to_string(line.size()) + "\n";
                            s.write_all(asio::buffer(ok));
                        }
                    } catch (const boost::system::system_error&) {
                        errors += 1;  // the peer reset while we answered
                    }
                    ended += 1;
                });
            }
        });
        run_clients(conns, 64, [&](std::size_t i) {
            std::minstd_rand rng(static_cast<unsigned>(i));
            auto s = weft::net::tcp_stream::connect(ep);
            std::string junk;
            if (i % 4 == 0) {
                junk.assign(64 * 1024 + rng() % 1024, 'z');  // one huge line, no newline
            } else {
                junk.resize(8 * 1024 + rng() % 8192);
                for (auto& c : junk) c = static_cast<char>(rng());  // random bytes, some '\n'
            }
            std::size_t got = 0;
            bool wrote = false;
            try {
                s.write_all(asio::buffer(junk));
                s.shutdown_write();
                wrote = true;
                char buf[1024];
                weft::timeout(10s, [&] {
                    while (std::size_t k = s.read_some(asio::buffer(buf))) got += k;
                });
            } catch (const boost::system::system_error&) {
                // The server closed after its error reply while we were still writing.
            } catch (const weft::elapsed&) {
                std::lock_guard g(stall_mu);  // no suspension while held
                stalls.push_back(fmt::format(
                    "client {} ({} bytes, {}): wrote all: {}, read {} bytes "
                    "of replies, then nothing for 10 s",
                    i, junk.size(), i % 4 == 0 ? "one long line" : "random", wrote, got));
            }
        });
        served_after = line_server_answers(ep);
        server.join();
        auto deadline = weft::time::now() + 20s;
        while (ended.load() < conns + 1 && weft::time::now() < deadline) weft::sleep_for(1ms);
    });
    for (const auto& st : stalls) UNSCOPED_INFO(st);
    CHECK(stalls.empty());
    CHECK(served_after);
    CHECK(ended.load() == conns + 1);
    CHECK(too_long.load() >= conns / 4);
    CHECK(lines.load() > 0);
    CHECK(weft::stress::wait_no_tasks(rt));
    weft::stress::report("net faults: {} peers sent random bytes or 64 KiB lines to a read_line "
                         "server: {} lines answered, {} rejected as longer than {} bytes, {} "
                         "resets, no crash",
                         conns, lines.load(), too_long.load(), max_line, errors.load());
}

namespace {

struct echo_counters {
    std::atomic<std::size_t> served{0}, open_now{0}, peak_open{0};
};

// One connection of the EMFILE test: echoes one byte, then closes (freeing its descriptor).
struct echo_one {
    weft::net::tcp_stream s;
    echo_counters* c;
    void operator()() {
        char b = 0;
        s.read_exact(asio::buffer(&b, 1));
        s.write_all(asio::buffer(&b, 1));
        c->open_now.fetch_sub(1);
        c->served += 1;
    }
};

// The EMFILE test's accept loop: `n` connections, each served by its own task.
struct echo_server {
    weft::net::tcp_listener* listener;
    std::size_t n;
    echo_counters* c;
    void operator()() const {
        for (std::size_t i = 0; i < n; ++i) {
            auto s = listener->accept();  // backs off on EMFILE, never throws it
            std::size_t now = c->open_now.fetch_add(1) + 1;
            std::size_t p = c->peak_open.load();
            while (now > p && !c->peak_open.compare_exchange_weak(p, now)) {}
            weft::spawn(echo_one{std::move(s), c});
        }
    }
};

}  // namespace

TEST_CASE("net faults: an accept loop under EMFILE backs off and serves every connection as "
          "descriptors free up",
          "[stress][net][emfile]") {
    const std::size_t conns = weft::stress::size(400, 20);
    constexpr int headroom = 4;
    ensure_fds(conns);
    auto rt = weft::test::make_runtime();
    auto listener = rt.block_on([] { return weft::net::tcp_listener::bind("127.0.0.1:0"); });
    auto ep = listener.local_addr();
    // Warm up with the tasks the exhausted phase runs (echo_server, echo_one): a few
    // connections served on both workers, so each shard has its reactor before descriptors run
    // out (a shard creates it on first use, which needs descriptors itself), and libweft's
    // polymorphic paths have been through UBSan's vptr cache (on a miss it probes memory
    // through a pipe, which fails without descriptors; this file is built without that check,
    // see test/meson.build).
    echo_counters warm;
    rt.block_on([&] {
        auto srv = weft::spawn(echo_server{&listener, 16, &warm});
        std::vector<weft::join_handle<void>> cs;
        for (int i = 0; i < 16; ++i) {
            cs.push_back(weft::spawn([ep] {
                auto s = weft::net::tcp_stream::connect(ep);
                char b = 'w';
                s.write_all(asio::buffer(&b, 1));
                s.read_exact(asio::buffer(&b, 1));
            }));
        }
        for (auto& c : cs) c.join();
        srv.join();
    });
    // (An echo task counts itself after its reply, so the last count may trail the joins.)
    REQUIRE(weft::stress::wait_until([&] { return warm.served.load() == 16; }, 10s));
    // Client sockets are opened before the limit drops (connect itself needs no descriptor;
    // the kernel completes the handshakes into the listener's backlog, up to its size).
    asio::io_context cio;
    std::vector<asio::ip::tcp::socket> clients;
    for (std::size_t i = 0; i < conns; ++i) {
        clients.emplace_back(cio);
        clients.back().open(asio::ip::tcp::v4());
    }
    // The polymorphic path the backoff takes (error_category::message), for the same reason.
    (void)boost::system::error_code(EMFILE, boost::system::system_category()).message();

    echo_counters c;
    std::size_t served_limited = 0;
    std::optional<weft::join_handle<void>> server;
    {
        weft::test::fd_exhaustion low(headroom);  // at most `headroom` server connections at once
        server = rt.spawn(echo_server{&listener, conns, &c});
        for (std::size_t i = 0; i < conns; ++i) {
            boost::system::error_code ec;
            clients[i].connect(ep, ec);
            REQUIRE_FALSE(ec);
            char b = static_cast<char>('a' + i % 26);
            asio::write(clients[i], asio::buffer(&b, 1), ec);
            REQUIRE_FALSE(ec);
        }
        // Everything is served while the limit is still low: descriptors freed by finished
        // connections are reused by the backed-off accept.
        weft::stress::wait_until([&] { return c.served.load() == conns; }, 60s);
        served_limited = c.served.load();
    }
    rt.block_on([&] { server->join(); });
    std::size_t replies_ok = 0;
    for (std::size_t i = 0; i < conns; ++i) {
        char back = 0;
        boost::system::error_code ec;
        asio::read(clients[i], asio::buffer(&back, 1), ec);
        if (!ec && back == static_cast<char>('a' + i % 26)) ++replies_ok;
    }
    clients.clear();
    rt.block_on([&] { auto drop = std::move(listener); });
    CHECK(served_limited == conns);
    CHECK(replies_ok == conns);
    CHECK(c.peak_open.load() <= static_cast<std::size_t>(headroom));
    CHECK(weft::stress::wait_no_tasks(rt));
    // The runtime is as usable as before the exhaustion: tasks, timers, the blocking pool.
    int usable = rt.block_on([] {
        int n = weft::spawn([] { return 1; }).join();
        weft::sleep_for(1ms);
        return n + weft::spawn_blocking([] { return 1; }).join();
    });
    CHECK(usable == 2);
    weft::stress::report("net faults: {} connections accepted through EMFILE with room for 4 "
                         "more descriptors (peak {} server connections open at once), all served",
                         conns, c.peak_open.load());
}
