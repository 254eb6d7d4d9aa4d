// tcp_listener: a listening TCP socket whose accept suspends only the calling task (Tokio's
// TcpListener).
#pragma once

#include <weft/net/tcp_stream.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <source_location>
#include <string_view>

namespace weft::net {

/// A TCP listener. Movable, not copyable. Bound to the io_context shard it was created on and
/// must not outlive its runtime.
///
///     auto l = weft::net::tcp_listener::bind("127.0.0.1:0");
///     for (;;) {
///         weft::spawn([s = l.accept()]() mutable { serve(s); });
///     }
class tcp_listener {
   public:
    /// Adopts an open, listening acceptor.
    explicit tcp_listener(boost::asio::ip::tcp::acceptor acceptor);
    /// Takes over `o`'s socket.
    tcp_listener(tcp_listener&&) noexcept = default;
    /// Closes this listener's socket, then takes over `o`'s.
    tcp_listener& operator=(tcp_listener&&) noexcept = default;
    ~tcp_listener();

    /// Binds to `addr` ("host:port" or "[v6]:port"; port 0 picks a free port) with
    /// SO_REUSEADDR and listens. A name is resolved on the blocking pool; each resolved
    /// address is tried in turn, and the last error is thrown (system_error) if none binds.
    /// std::invalid_argument (naming `addr`) when it does not parse; weft::no_runtime outside
    /// a runtime.
    /// **Cancellation**: a cancellation point only while a name is being resolved.
    static tcp_listener bind(std::string_view addr,
                             std::source_location where = std::source_location::current());
    /// Binds to one endpoint.
    static tcp_listener bind(const boost::asio::ip::tcp::endpoint& ep);

    /// Waits for the next connection. The new stream is bound to the io_context shard of the
    /// worker running the caller (so a connection's task tends to stay local).
    /// Out of file descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM), accept
    /// does not fail: it logs once per listener, waits (1 ms, doubling up to 100 ms) and
    /// retries, so an accept loop survives fd exhaustion and resumes when descriptors free
    /// up. A connection aborted before it was accepted is skipped. Other errors are thrown
    /// as system_error.
    /// **Cancellation**: a cancellation point, and cancel-safe: a connection accepted in the
    /// instant of the abort is returned (the next cancellation point throws), never dropped.
    /// In a weft::select branch it accepts only once the branch has won the select.
    tcp_stream accept(std::source_location where = std::source_location::current());

    /// The bound address (with the actual port when bound to port 0).
    [[nodiscard]] boost::asio::ip::tcp::endpoint local_addr() const;
    /// The underlying Asio acceptor (non-blocking mode is on; keep it on).
    boost::asio::ip::tcp::acceptor& acceptor() noexcept { return acceptor_; }

   private:
    boost::asio::ip::tcp::socket make_peer_socket();

    boost::asio::ip::tcp::acceptor acceptor_;
    bool warned_ = false;  // fd exhaustion already logged
};

}  // namespace weft::net
