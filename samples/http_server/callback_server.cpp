#include "callback_server.hpp"

#include "reply.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <cstdio>
#include <utility>

namespace http_server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// How long a connection may stay silent before it is closed (a client that opened it and
// went away must not hold it forever).
constexpr std::chrono::seconds idle_timeout{30};

class session : public std::enable_shared_from_this<session> {
   public:
    session(tcp::socket&& socket, std::shared_ptr<const std::string> server)
        : stream_(std::move(socket)),
          server_(std::move(server)) {}

    void run() {
        // The socket was accepted onto this session's strand: start there, so that every
        // handler of this connection is serialised by it.
        asio::dispatch(stream_.get_executor(),
                       beast::bind_front_handler(&session::read, shared_from_this()));
    }

   private:
    void read() {
        req_ = {};
        stream_.expires_after(idle_timeout);
        http::async_read(stream_, buffer_, req_,
                         beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

    void on_read(error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) return close();
        if (ec) return;  // reset, timeout, or a malformed request: drop the connection
        res_ = reply(req_, *server_);
        http::async_write(
            stream_, res_,
            beast::bind_front_handler(&session::on_write, shared_from_this(), res_.need_eof()));
    }

    void on_write(bool last, error_code ec, std::size_t) {
        if (ec) return;
        if (last) return close();
        read();
    }

    void close() {
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    request req_;
    response res_;
    std::shared_ptr<const std::string> server_;  // shared: a session may outlive the listener
};

}  // namespace

callback_listener::callback_listener(asio::any_io_executor ex, const tcp::endpoint& endpoint,
                                     std::string server)
    : ex_(std::move(ex)),
      acceptor_(asio::make_strand(ex_)),
      server_(std::make_shared<const std::string>(std::move(server))) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void callback_listener::run() { accept(); }

void callback_listener::accept() {
    // Each connection gets a strand of its own: its handlers may run on any thread of the
    // executor, one at a time.
    acceptor_.async_accept(
        asio::make_strand(ex_),
        beast::bind_front_handler(&callback_listener::on_accept, shared_from_this()));
}

void callback_listener::on_accept(error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // stop()
    if (ec) {
        // Out of descriptors and the like: report and keep accepting.
        std::fprintf(stderr, "http_server: accept: %s\n", ec.message().c_str());
    } else {
        std::make_shared<session>(std::move(socket), server_)->run();
    }
    accept();
}

void callback_listener::stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
        error_code ignored;
        self->acceptor_.close(ignored);
    });
}

}  // namespace http_server
