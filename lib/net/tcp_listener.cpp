// tcp_listener: bind, and an accept that survives descriptor exhaustion.
//
// accept() first tries the (non-blocking) acceptor directly; on "would block" it waits for
// readiness with async_wait(wait_read) through use_fiber, which consumes nothing, so an abort
// there loses no connection (cancel-safe). EMFILE/ENFILE/ENOBUFS/ENOMEM leave the pending
// connection in the kernel's backlog; retrying at once would spin (the listening socket stays
// readable), so accept sleeps with a doubling delay capped at 100 ms between attempts.
#include "address.hpp"

#include <weft/detail/park.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/time/sleep.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace weft::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

bool out_of_resources(const error_code& ec) noexcept {
    if (ec.category() != boost::system::system_category()) {
        return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
               ec == asio::error::no_memory;
    }
    int v = ec.value();
    return v == EMFILE || v == ENFILE || v == ENOBUFS || v == ENOMEM;
}

bool transient(const error_code& ec) noexcept {
    // The connection went away before we took it, or a signal interrupted accept.
    return ec == asio::error::connection_aborted || ec == asio::error::interrupted ||
           ec == asio::error::connection_reset ||
           (ec.category() == boost::system::system_category() &&
            (ec.value() == EPROTO || ec.value() == EPERM));
}

constexpr std::chrono::milliseconds first_backoff{1};
constexpr std::chrono::milliseconds max_backoff{100};

}  // namespace

tcp_listener::tcp_listener(asio::ip::tcp::acceptor acceptor)
    : acceptor_(std::move(acceptor)) {
    if (acceptor_.is_open()) acceptor_.non_blocking(true);
}

tcp_listener::~tcp_listener() = default;

tcp_listener tcp_listener::bind(const asio::ip::tcp::endpoint& ep) {
    asio::ip::tcp::acceptor a(detail::new_socket_executor("tcp_listener::bind"));
    error_code ec;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) detail::throw_error(ec, "weft::net::tcp_listener::bind");
    return tcp_listener(std::move(a));
}

tcp_listener tcp_listener::bind(std::string_view addr, std::source_location where) {
    detail::parsed_address parsed = detail::parse_address(addr);
    detail::new_socket_executor("tcp_listener::bind");  // no_runtime before resolving
    std::vector<asio::ip::address> candidates = detail::resolve(parsed, where);
    boost::system::system_error last(error_code{});
    for (const asio::ip::address& a : candidates) {
        try {
            return bind(asio::ip::tcp::endpoint(a, parsed.port));
        } catch (const boost::system::system_error& e) {
            last = e;
        }
    }
    throw weft::detail::readable_system_error(last.code(), "weft::net::tcp_listener::bind(\"" +
                                                               std::string(addr) + "\")");
}

tcp_stream tcp_listener::accept(std::source_location where) {
    weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
    weft::detail::consume_budget(where);
    asio::ip::tcp::socket peer = make_peer_socket();
    auto backoff = first_backoff;
    // A select branch accepts only once it has won (address.hpp: wait_readable_and_claim);
    // a connection that is gone by then (would_block) is waited for as the winner.
    const weft::detail::claim_record* claimer = weft::detail::current_claimer();
    for (;;) {
        error_code ec;
        if (claimer) {
            detail::wait_readable_and_claim(acceptor_, claimer, "tcp_listener::accept", where, ec);
            if (ec) detail::throw_error(ec, "weft::net::tcp_listener::accept");
        }
        acceptor_.accept(peer, ec);
        if (!ec) return tcp_stream(std::move(peer));
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            acceptor_.async_wait(asio::socket_base::wait_read,
                                 detail::wait_token("tcp_listener::accept", where)[ec]);
            if (ec) detail::throw_error(ec, "weft::net::tcp_listener::accept");
            continue;
        }
        if (transient(ec)) continue;
        if (out_of_resources(ec)) {
            if (!warned_) {
                warned_ = true;
                error_code ignored;
                auto ep = acceptor_.local_endpoint(ignored);
                fmt::print(stderr,
                           "weft: tcp_listener::accept on {}:{}: {}; backing off (up to {} ms) and "
                           "retrying until resources free up (logged once per listener)\n",
                           ep.address().to_string(), ep.port(), ec.message(), max_backoff.count());
                std::fflush(stderr);
            }
            weft::sleep_for(backoff, where);
            backoff = std::min(backoff * 2, max_backoff);
            continue;
        }
        detail::throw_error(ec, "weft::net::tcp_listener::accept");
    }
}

asio::ip::tcp::socket tcp_listener::make_peer_socket() {
    // The new connection lives on the caller's shard when the caller is on a worker, so its
    // task tends to stay local; elsewhere on the listener's.
    asio::any_io_executor ex = acceptor_.get_executor();
    if (weft::detail::current_task() != nullptr)
        ex = detail::new_socket_executor("tcp_listener::accept");
    try {
        return asio::ip::tcp::socket(ex);
    } catch (const boost::system::system_error&) {
        // A shard whose reactor does not exist yet creates it now, which needs descriptors
        // (epoll, eventfd, timerfd): under EMFILE use the listener's shard, which has one.
        return asio::ip::tcp::socket(acceptor_.get_executor());
    }
}

asio::ip::tcp::endpoint tcp_listener::local_addr() const {
    error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    if (ec) detail::throw_error(ec, "weft::net::tcp_listener::local_addr");
    return ep;
}

}  // namespace weft::net
