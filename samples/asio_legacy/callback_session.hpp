// Step 1 of asio_legacy: a connection served the way existing Asio code does it, with
// completion handlers and a self-owning session object. Nothing weft-specific but the
// executor the socket was given.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <cstddef>
#include <memory>

namespace legacy {

/// Echoes what the client sends. Owned by its pending handler (shared_from_this): it lives
/// while an operation is in flight and is freed after the last one completes.
class callback_session : public std::enable_shared_from_this<callback_session> {
   public:
    explicit callback_session(boost::asio::ip::tcp::socket socket)
        : socket_(std::move(socket)) {}
    /// Sends the greeting, then echoes until the client closes or an error occurs.
    void start();

   private:
    void read();
    void write(std::size_t n);

    boost::asio::ip::tcp::socket socket_;  // its executor is a strand (see legacy_server)
    std::array<char, 4096> buf_;
};

}  // namespace legacy
