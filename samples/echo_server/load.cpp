// The load client: each connection is a task doing write / read_exact / compare in a loop, the
// blocking-style code a thread-per-connection client would have, but on a few workers.
#include "load.hpp"

#include <weft/net.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <boost/asio/buffer.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <exception>
#include <vector>

namespace echo {

namespace {

struct connection_result {
    std::uint64_t requests = 0;
    std::uint64_t mismatches = 0;
};

/// Bytes that differ per connection and per request, so a reply routed to the wrong
/// connection, or a stale one, is caught.
void fill_message(std::string& msg, std::size_t conn, std::uint64_t seq) {
    std::uint64_t x = (conn + 1) * 0x9E3779B97F4A7C15ULL ^ seq;
    for (char& c : msg) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c = static_cast<char>(x);
    }
}

// [load_connection]
connection_result drive_connection(const load_options& opt, std::size_t conn,
                                   std::chrono::steady_clock::time_point deadline) {
    auto stream = weft::net::tcp_stream::connect(opt.address);
    stream.set_nodelay(true);
    std::string request(opt.message_size, '\0');
    std::string reply(opt.message_size, '\0');
    connection_result r;
    // Deadlines come from weft::time::now(), the runtime's clock.
    while (weft::time::now() < deadline) {
        fill_message(request, conn, r.requests + r.mismatches);
        stream.write_all(boost::asio::buffer(request));
        stream.read_exact(boost::asio::buffer(reply));
        if (reply == request) {
            ++r.requests;
        } else {
            ++r.mismatches;
        }
    }
    stream.shutdown_write();
    // The server closes after echoing everything: read its end of stream, so the connection
    // ends cleanly on both sides.
    char extra;
    if (stream.read_some(boost::asio::buffer(&extra, 1)) != 0) ++r.mismatches;
    return r;
}
// [load_connection]

}  // namespace

load_result run_load(const load_options& opt) {
    const auto start = weft::time::now();
    const auto deadline = start + opt.duration;
    std::vector<weft::join_handle<connection_result>> tasks;
    for (std::size_t i = 0; i < opt.connections; ++i) {
        tasks.push_back(
            weft::spawn([&opt, i, deadline] { return drive_connection(opt, i, deadline); }));
    }
    load_result total;
    for (auto& t : tasks) {
        try {
            connection_result r = t.join();
            total.requests += r.requests;
            total.mismatches += r.mismatches;
        } catch (const weft::join_error& e) {
            ++total.failed_connections;
            std::fprintf(stderr, "echo_load: a connection failed: %s\n", e.what());
        }
    }
    total.seconds = std::chrono::duration<double>(weft::time::now() - start).count();
    return total;
}

std::string describe(const load_options& opt, const load_result& r) {
    return fmt::format(
        "echo_load: {} connections, {}-byte messages, {:.2f} s: {} requests, {:.0f} requests/s, "
        "{} mismatched replies, {} failed connections",
        opt.connections, opt.message_size, r.seconds, r.requests, r.requests_per_second(),
        r.mismatches, r.failed_connections);
}

}  // namespace echo
