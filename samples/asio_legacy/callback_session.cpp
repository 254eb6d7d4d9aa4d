#include "callback_session.hpp"

#include "greeting.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>

namespace legacy {

namespace asio = boost::asio;

// [callback_session]
void callback_session::start() {
    asio::async_write(socket_, asio::buffer(greeting(1)),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                          if (!ec) self->read();
                      });
}

void callback_session::read() {
    // The handler runs on the socket's executor: a strand over the weft runtime's executor,
    // so on a weft worker, never at the same time as another handler of this session.
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](
                                                    boost::system::error_code ec, std::size_t n) {
        if (!ec) self->write(n);  // eof or error: drop the last reference
    });
}

void callback_session::write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buf_.data(), n),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                          if (!ec) self->read();
                      });
}
// [callback_session]

}  // namespace legacy
