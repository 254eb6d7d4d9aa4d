#include "fiber_sessions.hpp"

#include "greeting.hpp"

#include <weft/asio.hpp>
#include <weft/net.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>

#include <array>

namespace legacy {

namespace asio = boost::asio;

// [use_fiber_session]
void echo_with_use_fiber(asio::ip::tcp::socket socket) {
    asio::async_write(socket, asio::buffer(greeting(2)), weft::use_fiber);
    std::array<char, 4096> buf;  // on the task's stack: it lives across the suspensions
    for (;;) {
        boost::system::error_code ec;
        // use_fiber[ec] stores the error instead of throwing: end of stream is expected.
        std::size_t n = socket.async_read_some(asio::buffer(buf), weft::use_fiber[ec]);
        if (ec == asio::error::eof) return;
        if (ec) throw boost::system::system_error(ec);
        asio::async_write(socket, asio::buffer(buf.data(), n), weft::use_fiber);
    }
}
// [use_fiber_session]

// [tcp_stream_session]
void echo_with_tcp_stream(asio::ip::tcp::socket socket) {
    weft::net::tcp_stream stream(std::move(socket));
    stream.write_all(asio::buffer(greeting(3)));
    std::array<char, 4096> buf;
    while (std::size_t n = stream.read_some(asio::buffer(buf))) {
        stream.write_all(asio::buffer(buf.data(), n));
    }
}
// [tcp_stream_session]

}  // namespace legacy
