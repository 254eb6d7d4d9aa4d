// tcp_stream's place in its io_context's epoll set. On the io_uring backend a stream leaves
// the reactor at its first transfer on the ring (nothing waits there, and epoll would be woken
// for every segment) and goes back, for good, when a select branch reads, the ring refuses a
// transfer, or socket() is called. What must hold whichever way it moves: the descriptor is
// closed exactly when the stream is (the peer sees end of stream), no byte is lost or taken
// twice, and a reference from socket() stays usable.
#include "support/bounded.hpp"
#include "support/harness.hpp"

#include <weft/asio/use_fiber.hpp>
#include <weft/net.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <boost/asio/read.hpp>

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

weft::runtime runtime_on(weft::net::io_backend b) {
    return weft::builder::multi_thread().worker_threads(2).socket_io(b).build();
}

/// A connected pair: (the accepted end, the connecting end).
std::pair<weft::net::tcp_stream, weft::net::tcp_stream> connected_pair() {
    auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
    auto c =
        weft::net::tcp_stream::connect(fmt::format("127.0.0.1:{}", listener.local_addr().port()));
    return {listener.accept(), std::move(c)};
}

/// The descriptors registered in any epoll set of this process (/proc/self/fdinfo lists an
/// epoll descriptor's targets as "tfd: N").
std::vector<int> epoll_targets() {
    std::vector<int> out;
    DIR* d = ::opendir("/proc/self/fd");
    REQUIRE(d != nullptr);
    std::vector<std::string> epolls;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        char link[256] = {};
        std::string path = "/proc/self/fd/" + name;
        ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
        if (n > 0 && std::string(link, static_cast<std::size_t>(n)) == "anon_inode:[eventpoll]") {
            epolls.push_back(name);
        }
    }
    ::closedir(d);
    for (const std::string& ep : epolls) {
        std::ifstream info("/proc/self/fdinfo/" + ep);
        for (std::string line; std::getline(info, line);) {
            if (line.rfind("tfd:", 0) != 0) continue;
            std::istringstream words(line.substr(4));
            int fd = -1;
            words >> fd;
            out.push_back(fd);
        }
    }
    return out;
}

/// Whether the socket behind `s` (found by its two addresses, read without touching the
/// reactor) is in an epoll set.
bool in_reactor(const weft::net::tcp_stream& s) {
    const auto local = s.local_addr();
    const auto peer = s.peer_addr();
    for (int fd : epoll_targets()) {
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        asio::ip::tcp::endpoint l;
        asio::ip::tcp::endpoint p;
        socklen_t ll = static_cast<socklen_t>(l.capacity());
        socklen_t pl = static_cast<socklen_t>(p.capacity());
        if (::getsockname(fd, l.data(), &ll) != 0 || ::getpeername(fd, p.data(), &pl) != 0) {
            continue;
        }
        l.resize(ll);
        p.resize(pl);
        if (l == local && p == peer) return true;
    }
    return false;
}

/// One round trip: `from` writes 4 bytes, `to` reads them back exactly.
void round_trip(weft::net::tcp_stream& from, weft::net::tcp_stream& to, std::uint32_t v) {
    from.write_all(asio::buffer(&v, sizeof v));
    std::uint32_t got = 0;
    to.read_exact(asio::buffer(&got, sizeof got));
    REQUIRE(got == v);
}

}  // namespace

TEST_CASE("a stream on the ring leaves the reactor at its first transfer; socket() brings it back",
          "[net][io_backend]") {
    auto rt = runtime_on(weft::net::io_backend::io_uring);
    auto r = weft::test::run_bounded(20s, [&rt] {
        return rt.block_on([] {
            std::vector<int> seen;  // 1 when in the reactor, at each step
            auto [a, c] = connected_pair();
            seen.push_back(in_reactor(a));
            seen.push_back(in_reactor(c));
            const bool ring = weft::net::backend() == weft::net::io_backend::io_uring;
            round_trip(c, a, 1);
            round_trip(a, c, 2);
            seen.push_back(in_reactor(a));
            seen.push_back(in_reactor(c));
            // Calls that need only the descriptor leave it out.
            a.set_nodelay(true);
            (void)a.peer_addr();
            seen.push_back(in_reactor(a));
            // socket() puts it back, and it stays while the ring carries the transfers.
            asio::ip::tcp::socket& raw = a.socket();
            seen.push_back(in_reactor(a));
            std::uint32_t v = 3;
            c.write_all(asio::buffer(&v, sizeof v));
            std::uint32_t got = 0;
            asio::async_read(raw, asio::buffer(&got, sizeof got), weft::use_fiber);
            seen.push_back(got == 3);
            round_trip(c, a, 4);
            seen.push_back(in_reactor(a));
            return std::make_pair(ring, seen);
        });
    });
    REQUIRE(r.has_value());
    const auto& [ring, seen] = *r;
    REQUIRE(seen.size() == 8);
    CHECK(seen[0] == 1);  // adopted sockets start registered, as Asio made them
    CHECK(seen[1] == 1);
    if (ring) {
        CHECK(seen[2] == 0);
        CHECK(seen[3] == 0);
        CHECK(seen[4] == 0);
    } else {
        // no ring granted: the reactor carries every transfer, and the stream never leaves
        CHECK(!WEFT_TEST_IO_URING);
        CHECK(seen[2] == 1);
        CHECK(seen[3] == 1);
        CHECK(seen[4] == 1);
    }
    CHECK(seen[5] == 1);
    CHECK(seen[6] == 1);
    CHECK(seen[7] == 1);
}

TEST_CASE("a stream on the reactor backend stays in the reactor", "[net][io_backend]") {
    auto rt = runtime_on(weft::net::io_backend::reactor);
    auto r = weft::test::run_bounded(20s, [&rt] {
        return rt.block_on([] {
            auto [a, c] = connected_pair();
            round_trip(c, a, 1);
            round_trip(a, c, 2);
            return in_reactor(a) && in_reactor(c);
        });
    });
    REQUIRE(r.has_value());
    CHECK(*r);
}

TEST_CASE("a stream that left the reactor closes its socket when dropped, moved over or moved on",
          "[net][io_backend]") {
    auto rt = runtime_on(weft::net::io_backend::io_uring);
    auto r = weft::test::run_bounded(20s, [&rt] {
        return rt.block_on([] {
            // Each way to let go of `a` after it left: the peer must read end of stream (a
            // descriptor that stayed open would leave it waiting: the bound fails the test).
            std::vector<std::size_t> peer_reads;
            auto peer_sees_eof = [&](weft::net::tcp_stream& c) {
                char b[4];
                peer_reads.push_back(
                    weft::timeout(5s, [&] { return c.read_some(asio::buffer(b)); }));
            };
            {
                auto [a, c] = connected_pair();
                round_trip(c, a, 1);
                { auto dropped = std::move(a); }
                peer_sees_eof(c);
            }
            {
                auto [a, c] = connected_pair();
                round_trip(c, a, 1);
                auto [other, other_peer] = connected_pair();
                a = std::move(other);  // closes what `a` held
                peer_sees_eof(c);
                round_trip(other_peer, a, 2);  // and `a` now works as `other` did
            }
            {
                auto [a, c] = connected_pair();
                round_trip(c, a, 1);
                auto [rd, wr] = std::move(a).split();
                { auto gone = std::move(wr); }  // the write half shuts the sending side down
                peer_sees_eof(c);
                std::uint32_t v = 5;
                c.write_all(asio::buffer(&v, sizeof v));
                std::uint32_t got = 0;
                rd.read_exact(asio::buffer(&got, sizeof got));
                peer_reads.push_back(got);
            }
            return peer_reads;
        });
    });
    REQUIRE(r.has_value());
    CHECK(*r == std::vector<std::size_t>{0, 0, 0, 5});
}

TEST_CASE("split halves moving the stream in and out of the reactor lose no byte",
          "[net][io_backend][concurrency]") {
    // The read half alternates plain reads (the ring) with select-branch reads (the reactor:
    // they wait for readiness before they claim), while the write half keeps writing on the
    // ring: the first select read moves the registration while the writer's transfers run.
    // Fresh streams each round, so the move happens again and again.
    const std::size_t rounds = weft::test::scaled(40);
    const std::uint32_t per_round = 200;
    auto rt = runtime_on(weft::net::io_backend::io_uring);
    auto r = weft::test::run_bounded(60s, [&rt, rounds] {
        return rt.block_on([rounds] {
            std::size_t bad = 0;
            for (std::size_t k = 0; k < rounds; ++k) {
                auto [a, c] = connected_pair();
                auto [rd, wr] = std::move(a).split();
                auto writer = weft::spawn([w = std::move(wr)]() mutable {
                    for (std::uint32_t i = 0; i < per_round; ++i) {
                        w.write_all(asio::buffer(&i, sizeof i));
                    }
                });
                auto echo = weft::spawn([c = std::move(c)]() mutable {
                    // the peer echoes what it reads until the writer's half closes
                    char b[256];
                    for (std::size_t n; (n = c.read_some(asio::buffer(b))) > 0;) {
                        c.write_all(asio::buffer(b, n));
                    }
                });
                std::string got;
                char b[64];
                for (std::size_t reads = 0; got.size() < per_round * sizeof(std::uint32_t);
                     ++reads) {
                    std::size_t n = 0;
                    if (reads % 3 == 1) {
                        auto ev = weft::select([&] { return rd.read_some(asio::buffer(b)); },
                                               [] { weft::sleep_for(5s); });
                        REQUIRE(ev.index() == 0);
                        n = std::get<0>(ev);
                    } else {
                        n = rd.read_some(asio::buffer(b));
                    }
                    REQUIRE(n > 0);
                    got.append(b, n);
                }
                writer.join();
                echo.join();
                for (std::uint32_t i = 0; i < per_round; ++i) {
                    std::uint32_t v = 0;
                    std::memcpy(&v, got.data() + i * sizeof v, sizeof v);
                    if (v != i) ++bad;
                }
            }
            return bad;
        });
    });
    REQUIRE(r.has_value());
    CHECK(*r == 0);
}
