// udp_socket: a UDP socket whose sends and receives suspend only the calling task (Tokio's
// UdpSocket).
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/udp.hpp>

#include <cstddef>
#include <source_location>
#include <string_view>
#include <utility>

namespace weft::net {

/// A UDP socket. Movable, not copyable. Bound to the io_context shard it was created on and
/// must not outlive its runtime. One task may send while another receives. Errors are
/// thrown as boost::system::system_error; addresses that do not parse as
/// std::invalid_argument naming them.
///
/// ```cpp
/// auto server = weft::net::udp_socket::bind("127.0.0.1:0");
/// auto client = weft::net::udp_socket::bind("127.0.0.1:0");
/// client.send_to(asio::buffer("ping", 4), server.local_addr());
/// char buf[64];
/// auto [n, from] = server.recv_from(asio::buffer(buf));  // suspends until a datagram arrives
/// ```
class udp_socket {
   public:
    /// Adopts an open socket.
    explicit udp_socket(boost::asio::ip::udp::socket socket);
    /// Takes over `o`'s socket.
    udp_socket(udp_socket&&) noexcept = default;
    /// Closes this socket, then takes over `o`'s.
    udp_socket& operator=(udp_socket&&) noexcept = default;
    ~udp_socket();

    /// Opens a socket bound to `addr` ("host:port" or "[v6]:port"; port 0 picks one); each
    /// resolved address is tried in turn. weft::no_runtime outside a runtime.
    /// **Cancellation**: a cancellation point only while a name is being resolved.
    static udp_socket bind(std::string_view addr,
                           std::source_location where = std::source_location::current());

    /// Sets the default peer for send/recv (and filters received datagrams to it); the first
    /// resolved address of the socket's family is used.
    /// **Cancellation**: a cancellation point only while a name is being resolved.
    void connect(std::string_view addr,
                 std::source_location where = std::source_location::current());

    /// The bound address (with the actual port when bound to port 0).
    [[nodiscard]] boost::asio::ip::udp::endpoint local_addr() const;
    /// The connected peer (system_error when not connected).
    [[nodiscard]] boost::asio::ip::udp::endpoint peer_addr() const;
    /// The underlying Asio socket (non-blocking mode is on; keep it on).
    boost::asio::ip::udp::socket& socket() noexcept { return socket_; }

    /// Sends one datagram to the connected peer; returns the bytes sent.
    /// **Cancellation**: a cancellation point; cancel-safe (the datagram is sent whole or
    /// not at all).
    std::size_t send(boost::asio::const_buffer buf,
                     std::source_location where = std::source_location::current());
    /// Receives one datagram from the connected peer into `buf` (a longer datagram is
    /// truncated); returns its size.
    /// **Cancellation**: a cancellation point; cancel-safe (nothing is consumed by an abort;
    /// a datagram received in the same instant is returned). In a weft::select branch it
    /// receives only once the branch has won the select: a losing branch takes no datagram.
    std::size_t recv(boost::asio::mutable_buffer buf,
                     std::source_location where = std::source_location::current());
    /// Sends one datagram to `to`. Cancellation as send.
    std::size_t send_to(boost::asio::const_buffer buf, const boost::asio::ip::udp::endpoint& to,
                        std::source_location where = std::source_location::current());
    /// Receives one datagram and its sender. Cancellation as recv.
    std::pair<std::size_t, boost::asio::ip::udp::endpoint> recv_from(
        boost::asio::mutable_buffer buf,
        std::source_location where = std::source_location::current());

   private:
    boost::asio::ip::udp::socket socket_;
};

}  // namespace weft::net
