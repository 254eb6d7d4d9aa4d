// weft::net::udp_socket: round trips with send_to/recv_from and connected send/recv, abort.
#include "support/harness.hpp"

#include <weft/net.hpp>

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST_CASE("udp round trip", "[net][udp]") {
    auto rt = weft::test::make_runtime();
    struct result {
        std::string ping, pong, x, y;
        bool pong_from_b = false, ping_from_a = false;
        std::string abort_outcome;
    };
    result r = rt.block_on([] {
        result r;
        auto a = weft::net::udp_socket::bind("127.0.0.1:0");
        auto b = weft::net::udp_socket::bind("127.0.0.1:0");
        auto server = weft::spawn([&b, &r, a_ep = a.local_addr()] {
            char buf[64];
            auto [n, from] = b.recv_from(asio::buffer(buf));
            r.ping.assign(buf, n);
            r.ping_from_a = from == a_ep;
            b.send_to(asio::buffer("pong", 4), from);
        });
        weft::sleep_for(2ms);  // usually parked in recv_from by now; either way must work
        a.send_to(asio::buffer("ping", 4), b.local_addr());
        char buf[64];
        auto [n, from] = a.recv_from(asio::buffer(buf));
        r.pong.assign(buf, n);
        r.pong_from_b = from == b.local_addr();
        server.join();

        a.connect(fmt::format("127.0.0.1:{}", b.local_addr().port()));
        b.connect(fmt::format("127.0.0.1:{}", a.local_addr().port()));
        a.send(asio::buffer("x", 1));
        n = b.recv(asio::buffer(buf));
        r.x.assign(buf, n);
        b.send(asio::buffer("yy", 2));
        n = a.recv(asio::buffer(buf));
        r.y.assign(buf, n);

        // A task parked in recv is aborted promptly and the socket still works afterwards.
        auto waiter = weft::spawn([&a] {
            char b1[4];
            a.recv(asio::buffer(b1));
        });
        weft::sleep_for(10ms);
        waiter.abort();
        try {
            waiter.join();
            r.abort_outcome = "ok";
        } catch (const weft::join_error& e) {
            r.abort_outcome = e.is_cancelled() ? "cancelled" : "failed";
        }
        b.send(asio::buffer("z", 1));
        n = a.recv(asio::buffer(buf));
        if (n != 1 || buf[0] != 'z') r.abort_outcome += " but lost the next datagram";
        return r;
    });
    CHECK(r.ping == "ping");
    CHECK(r.ping_from_a);
    CHECK(r.pong == "pong");
    CHECK(r.pong_from_b);
    CHECK(r.x == "x");
    CHECK(r.y == "yy");
    CHECK(r.abort_outcome == "cancelled");
}
