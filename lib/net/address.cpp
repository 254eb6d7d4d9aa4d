// Address parsing, name resolution on the blocking pool, and the io_context a new socket
// goes on. See address.hpp.
#include "address.hpp"

#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"
#include "../task/task_ops.hpp"

#include <weft/detail/park.hpp>
#include <weft/error.hpp>
#include <weft/task/join_error.hpp>
#include <weft/task/spawn.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/system_error.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace weft::net::detail {
namespace asio = boost::asio;

namespace {

[[noreturn]] void bad_address(std::string_view addr, std::string_view why) {
    throw std::invalid_argument(fmt::format(
        "weft::net: invalid address \"{}\": {} (expected \"host:port\" or \"[v6]:port\")", addr,
        why));
}

std::uint16_t parse_port(std::string_view addr, std::string_view port) {
    if (port.empty()) bad_address(addr, "missing port");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value > 65535) {
        bad_address(addr, fmt::format("bad port \"{}\"", port));
    }
    return static_cast<std::uint16_t>(value);
}

/// Resolves `host`; errors come back as a value (the caller throws on its own thread, so no
/// exception object crosses threads).
struct resolution {
    std::vector<asio::ip::address> addresses;
    boost::system::error_code ec;
};

resolution resolve_now(const std::string& host, std::uint16_t port, asio::io_context& ctx) {
    resolution out;
    asio::ip::tcp::resolver resolver(ctx);
    auto results = resolver.resolve(host, std::to_string(port), out.ec);
    if (out.ec) return out;
    for (const auto& entry : results) {
        asio::ip::address a = entry.endpoint().address();
        if (std::find(out.addresses.begin(), out.addresses.end(), a) == out.addresses.end()) {
            out.addresses.push_back(a);
        }
    }
    if (out.addresses.empty()) out.ec = asio::error::host_not_found;
    return out;
}

}  // namespace

parsed_address parse_address(std::string_view addr) {
    parsed_address out;
    std::string_view host;
    std::string_view port;
    if (!addr.empty() && addr.front() == '[') {
        std::size_t close = addr.find(']');
        if (close == std::string_view::npos) bad_address(addr, "missing ']'");
        host = addr.substr(1, close - 1);
        std::string_view rest = addr.substr(close + 1);
        if (rest.empty() || rest.front() != ':') bad_address(addr, "missing \":port\" after ']'");
        port = rest.substr(1);
        boost::system::error_code ec;
        auto v6 = asio::ip::make_address_v6(std::string(host), ec);
        if (ec) bad_address(addr, "not an IPv6 address between the brackets");
        out.literal = asio::ip::address(v6);
    } else {
        std::size_t colon = addr.rfind(':');
        if (colon == std::string_view::npos) bad_address(addr, "missing port");
        host = addr.substr(0, colon);
        port = addr.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            bad_address(addr, "an IPv6 address needs brackets");
        boost::system::error_code ec;
        auto v4 = asio::ip::make_address_v4(std::string(host), ec);
        if (!ec) out.literal = asio::ip::address(v4);
    }
    if (host.empty()) bad_address(addr, "missing host");
    if (host.find_first_of(" \t\r\n") != std::string_view::npos) bad_address(addr, "space in host");
    out.host = std::string(host);
    out.port = parse_port(addr, port);
    return out;
}

std::vector<asio::ip::address> resolve(const parsed_address& addr, std::source_location where) {
    if (addr.literal) return {*addr.literal};
    asio::io_context& ctx = runtime_home_context("weft::net (resolving a name)");
    resolution r;
    if (weft::detail::current_task() == nullptr) {
        weft::detail::check_may_block("weft::net (resolving a name)");
        r = resolve_now(addr.host, addr.port, ctx);
    } else {
        // In a task: getaddrinfo blocks, so it runs on the blocking pool. The job owns copies
        // of its inputs, so an abort may leave it running detached. Its join does not claim:
        // in a select branch (`select(connect("host:port"), sleep_for(1s))`) a claim here held
        // the race through the connect that follows, and the sleep branch could not win until
        // the connect ended.
        auto job = weft::spawn_blocking(
            [host = addr.host, port = addr.port, &ctx] { return resolve_now(host, port, ctx); },
            where);
        try {
            weft::detail::join_wait_unclaimed(weft::detail::handle_access::get(job), where);
            r = weft::detail::take_completed(weft::detail::handle_access::take(job));
        } catch (const join_error& e) {
            if (e.is_cancelled()) throw task_cancelled{};  // the runtime shut down
            throw;
        }
    }
    if (r.ec) {
        throw weft::detail::readable_system_error(
            r.ec, fmt::format("weft::net: resolving \"{}\"", addr.host));
    }
    return std::move(r.addresses);
}

asio::any_io_executor new_socket_executor(const char* what) {
    weft::detail::thread_context& c = weft::detail::this_thread_context();
    if (c.w != nullptr) return c.w->io().get_executor();
    if (c.sched != nullptr) return c.sched->worker_at(0).io().get_executor();
    throw no_runtime(fmt::format(
        "weft::net: {} needs a runtime (call it from a task or the runtime's blocking pool)",
        what));
}

asio::io_context& runtime_home_context(const char* what) {
    weft::detail::thread_context& c = weft::detail::this_thread_context();
    if (c.sched == nullptr) {
        throw no_runtime(fmt::format(
            "weft: {} needs a runtime (call it from a task or the runtime's blocking pool)", what));
    }
    return c.sched->worker_at(0).io();
}

void throw_error(const boost::system::error_code& ec, const char* what) {
    throw weft::detail::readable_system_error(ec, what);
}

}  // namespace weft::net::detail
