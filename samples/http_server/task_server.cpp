#include "task_server.hpp"

#include "reply.hpp"

#include <weft/asio.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <memory>
#include <utility>

namespace http_server {
namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::chrono::seconds idle_timeout{30};  // as the callback server's

void serve_connection(tcp::socket& socket, const std::string& server) {
    beast::flat_buffer buffer;
    for (;;) {
        request req;
        error_code ec;
        // A silent client is dropped after idle_timeout, as the callback server's
        // expires_after does: the timeout cancels the read and the task goes on.
        try {
            weft::timeout(idle_timeout,
                          [&] { http::async_read(socket, buffer, req, weft::use_fiber[ec]); });
        } catch (const weft::elapsed&) {
            break;
        }
        if (ec) break;  // end of stream, reset or a malformed request
        response res = reply(req, server);
        http::async_write(socket, res, weft::use_fiber[ec]);
        if (ec || res.need_eof()) break;
    }
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

void serve_tasks(weft::net::tcp_listener& listener, const std::string& server) {
    for (;;) {
        weft::spawn([stream = listener.accept(), &server]() mutable {
            serve_connection(stream.socket(), server);
        });
    }
}

}  // namespace http_server
