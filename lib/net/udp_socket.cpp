// udp_socket: direct attempt first (non-blocking), then use_fiber on "would block", as
// tcp_stream does. A datagram operation is all-or-nothing, so every call is cancel-safe.
#include "address.hpp"

#include <weft/detail/park.hpp>
#include <weft/net/udp_socket.hpp>

namespace weft::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
bool would_block(const error_code& ec) noexcept {
    return ec == asio::error::would_block || ec == asio::error::try_again;
}
}  // namespace

udp_socket::udp_socket(asio::ip::udp::socket socket)
    : socket_(std::move(socket)) {
    if (socket_.is_open()) socket_.non_blocking(true);
}

udp_socket::~udp_socket() = default;

udp_socket udp_socket::bind(std::string_view addr, std::source_location where) {
    detail::parsed_address parsed = detail::parse_address(addr);
    asio::any_io_executor ex = detail::new_socket_executor("udp_socket::bind");
    std::vector<asio::ip::address> candidates = detail::resolve(parsed, where);
    error_code last;
    for (const asio::ip::address& a : candidates) {
        asio::ip::udp::endpoint ep(a, parsed.port);
        asio::ip::udp::socket s(ex);
        error_code ec;
        s.open(ep.protocol(), ec);
        if (!ec) s.bind(ep, ec);
        if (!ec) return udp_socket(std::move(s));
        last = ec;
    }
    throw weft::detail::readable_system_error(last, "weft::net::udp_socket::bind(\"" +
                                                        std::string(addr) + "\")");
}

void udp_socket::connect(std::string_view addr, std::source_location where) {
    detail::parsed_address parsed = detail::parse_address(addr);
    std::vector<asio::ip::address> candidates = detail::resolve(parsed, where);
    bool v6 = false;
    if (socket_.is_open()) {
        error_code ignored;
        v6 = socket_.local_endpoint(ignored).address().is_v6();
    }
    error_code last = asio::error::address_family_not_supported;
    for (const asio::ip::address& a : candidates) {
        if (socket_.is_open() && a.is_v6() != v6) continue;  // another family than the socket's
        error_code ec;
        socket_.connect({a, parsed.port}, ec);  // immediate for UDP: only records the peer
        if (!ec) {
            socket_.non_blocking(true);  // connect() opens a closed socket
            return;
        }
        last = ec;
    }
    throw weft::detail::readable_system_error(last, "weft::net::udp_socket::connect(\"" +
                                                        std::string(addr) + "\")");
}

asio::ip::udp::endpoint udp_socket::local_addr() const {
    error_code ec;
    auto ep = socket_.local_endpoint(ec);
    if (ec) detail::throw_error(ec, "weft::net::udp_socket::local_addr");
    return ep;
}

asio::ip::udp::endpoint udp_socket::peer_addr() const {
    error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (ec) detail::throw_error(ec, "weft::net::udp_socket::peer_addr");
    return ep;
}

std::size_t udp_socket::send(asio::const_buffer buf, std::source_location where) {
    weft::detail::consume_budget(where);
    error_code ec;
    std::size_t n = socket_.send(buf, 0, ec);
    if (would_block(ec))
        n = socket_.async_send(buf, detail::wait_token("udp_socket::send", where)[ec]);
    if (ec) detail::throw_error(ec, "weft::net::udp_socket::send");
    return n;
}

std::size_t udp_socket::recv(asio::mutable_buffer buf, std::source_location where) {
    weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
    weft::detail::consume_budget(where);
    error_code ec;
    std::size_t n = 0;
    if (const weft::detail::claim_record* claimer = weft::detail::current_claimer()) {
        // A select branch: readiness, claim, then a non-blocking receive (address.hpp).
        do {
            ec.clear();
            detail::wait_readable_and_claim(socket_, claimer, "udp_socket::recv", where, ec);
            if (!ec) n = socket_.receive(buf, 0, ec);
        } while (would_block(ec));
    } else {
        n = socket_.receive(buf, 0, ec);
        if (would_block(ec)) {
            n = socket_.async_receive(buf, detail::wait_token("udp_socket::recv", where)[ec]);
        }
    }
    if (ec) detail::throw_error(ec, "weft::net::udp_socket::recv");
    return n;
}

std::size_t udp_socket::send_to(asio::const_buffer buf, const asio::ip::udp::endpoint& to,
                                std::source_location where) {
    weft::detail::consume_budget(where);
    error_code ec;
    std::size_t n = socket_.send_to(buf, to, 0, ec);
    if (would_block(ec)) {
        n = socket_.async_send_to(buf, to, detail::wait_token("udp_socket::send_to", where)[ec]);
    }
    if (ec) detail::throw_error(ec, "weft::net::udp_socket::send_to");
    return n;
}

std::pair<std::size_t, asio::ip::udp::endpoint> udp_socket::recv_from(asio::mutable_buffer buf,
                                                                      std::source_location where) {
    weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
    weft::detail::consume_budget(where);
    asio::ip::udp::endpoint from;
    error_code ec;
    std::size_t n = 0;
    if (const weft::detail::claim_record* claimer = weft::detail::current_claimer()) {
        // A select branch: readiness, claim, then a non-blocking receive (address.hpp).
        do {
            ec.clear();
            detail::wait_readable_and_claim(socket_, claimer, "udp_socket::recv_from", where, ec);
            if (!ec) n = socket_.receive_from(buf, from, 0, ec);
        } while (would_block(ec));
    } else {
        n = socket_.receive_from(buf, from, 0, ec);
        if (would_block(ec)) {
            n = socket_.async_receive_from(buf, from,
                                           detail::wait_token("udp_socket::recv_from", where)[ec]);
        }
    }
    if (ec) detail::throw_error(ec, "weft::net::udp_socket::recv_from");
    return {n, from};
}

}  // namespace weft::net
