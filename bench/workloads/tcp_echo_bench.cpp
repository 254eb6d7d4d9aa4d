// tcp_echo: an echo server on 127.0.0.1 (ephemeral port) inside the runtime, TCP_NODELAY;
// client tasks in the same runtime each make round trips of a 64-byte request and response
// (write_all / read_exact), checking every echoed payload. Time runs from the first connect to
// the last client finishing. Peer row: 50 clients x 2,000 rounds. Scaling rows: 10 / 100 /
// 1,000 connections with 100,000 round trips in all (RLIMIT_NOFILE raised for them).
#include "support/bench.hpp"

#include <weft/net.hpp>
#include <weft/task.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/system_error.hpp>

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace weft_bench {
namespace {

void echo_session(weft::net::tcp_stream s) {
    std::array<unsigned char, 64> buf{};
    try {
        for (;;) {
            s.read_exact(boost::asio::buffer(buf));
            s.write_all(boost::asio::buffer(buf));
        }
    } catch (const boost::system::system_error&) {
        // the client closed its end (eof) or reset it: the session is over
    }
}

void tcp_echo_n(weft::runtime& rt, const char* row, u64 clients, u64 rounds) {
    // two descriptors per connection (both ends live in this process), plus slack
    if (raise_nofile_limit(2 * clients + 64) < 2 * clients + 64) {
        fail(fmt::format("{}: RLIMIT_NOFILE too low for {} connections", row, clients));
    }
    u64 ns = rt.block_on([clients, rounds] {
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        std::string addr = fmt::format("127.0.0.1:{}", listener.local_addr().port());
        weft::spawn([l = std::move(listener), clients]() mutable {
            for (u64 i = 0; i < clients; ++i) {
                auto s = l.accept();
                s.set_nodelay(true);
                weft::spawn([s = std::move(s)]() mutable { echo_session(std::move(s)); });
            }
        });
        auto t0 = bench_clock::now();
        std::vector<weft::join_handle<void>> hs;
        hs.reserve(clients);
        for (u64 c = 0; c < clients; ++c) {
            hs.push_back(weft::spawn([&addr, c, rounds] {
                auto s = weft::net::tcp_stream::connect(addr);
                s.set_nodelay(true);
                std::array<unsigned char, 64> req{};
                std::array<unsigned char, 64> resp{};
                req.fill(static_cast<unsigned char>(c & 0xff));
                for (u64 r = 0; r < rounds; ++r) {
                    s.write_all(boost::asio::buffer(req));
                    s.read_exact(boost::asio::buffer(resp));
                    check(resp == req, "echo payload");
                }
            }));
        }
        for (auto& h : hs) h.join();
        return ns_since(t0);
    });
    const u64 n = clients * rounds;
    emit(row, n, ns,
         fmt::format("\"clients\":{},\"rounds_per_client\":{},\"msg_bytes\":64,\"rps\":{:.0f}",
                     clients, rounds, static_cast<double>(n) / (static_cast<double>(ns) / 1e9)));
}

void tcp_echo(weft::runtime& rt) { tcp_echo_n(rt, "tcp_echo", 50, 2'000); }
void tcp_echo_10(weft::runtime& rt) { tcp_echo_n(rt, "tcp_echo_10", 10, 10'000); }
void tcp_echo_100(weft::runtime& rt) { tcp_echo_n(rt, "tcp_echo_100", 100, 1'000); }
void tcp_echo_1000(weft::runtime& rt) { tcp_echo_n(rt, "tcp_echo_1000", 1'000, 100); }

const registrar reg{"tcp_echo", &tcp_echo};
const registrar reg_10{"tcp_echo_10", &tcp_echo_10};
const registrar reg_100{"tcp_echo_100", &tcp_echo_100};
const registrar reg_1000{"tcp_echo_1000", &tcp_echo_1000};

}  // namespace
}  // namespace weft_bench
