#include "legacy_server.hpp"

#include "callback_session.hpp"
#include "fiber_sessions.hpp"

#include <weft/task.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>

namespace legacy {

namespace asio = boost::asio;

legacy_server::legacy_server(weft::executor ex, const asio::ip::tcp::endpoint& endpoint, int step)
    : ex_(ex),
      strand_(asio::make_strand(ex)),
      acceptor_(strand_, endpoint),
      step_(step) {}

void legacy_server::start() {
    asio::post(strand_, [self = shared_from_this()] { self->accept(); });
}

void legacy_server::stop() {
    // Closing cancels the pending accept (its handler sees operation_aborted); doing it on
    // the strand keeps it from racing with the handlers.
    asio::post(strand_, asio::use_future([self = shared_from_this()] { self->acceptor_.close(); }))
        .get();
}

void legacy_server::accept() {
    // Each connection gets a strand of its own, for the step 1 session's handlers.
    acceptor_.async_accept(
        asio::make_strand(ex_),
        [self = shared_from_this()](boost::system::error_code ec, asio::ip::tcp::socket socket) {
            self->on_accept(ec, std::move(socket));
        });
}

// [accept_handler]
void legacy_server::on_accept(boost::system::error_code ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // stop() closed the acceptor
    if (!ec) {
        switch (step_) {
            case 1:  // the code as it was: a self-owning session of chained callbacks
                std::make_shared<callback_session>(std::move(socket))->start();
                break;
            case 2:  // a handler is a runtime context: it may spawn a task, which may block
                weft::spawn(
                    [s = std::move(socket)]() mutable { echo_with_use_fiber(std::move(s)); });
                break;
            default:  // the same task, on weft's own socket type
                weft::spawn(
                    [s = std::move(socket)]() mutable { echo_with_tcp_stream(std::move(s)); });
                break;
        }
        // (Steps 2 and 3 drop the join_handle: the task is detached, and owns its socket like
        // the step 1 session owns itself. A connection error fails only that task, and the
        // runtime's unhandled-exception policy logs it.)
    } else {
        std::fprintf(stderr, "asio_legacy: accept: %s\n", ec.message().c_str());
    }
    accept();
}
// [accept_handler]

}  // namespace legacy
