// The HTTP server written the usual Asio way: a listener whose acceptor lives on a strand, a
// session object per connection kept alive by its own pending handlers, each on a strand of
// its own (Boost.Beast's asynchronous server examples have this shape). It takes an
// `any_io_executor`, which is the whole drop-in: main.cpp passes an io_context's executor or
// weft's `rt.get_executor()`, and nothing here changes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <string>

namespace http_server {

class callback_listener : public std::enable_shared_from_this<callback_listener> {
   public:
    /// Opens, binds and listens on `endpoint` (port 0 picks one). `server` names the server
    /// in the replies.
    callback_listener(boost::asio::any_io_executor ex,
                      const boost::asio::ip::tcp::endpoint& endpoint, std::string server);

    [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const {
        return acceptor_.local_endpoint();
    }
    /// Starts accepting; the pending accept keeps the listener alive.
    void run();
    /// Closes the acceptor (on its strand); sessions already running finish on their own.
    void stop();

   private:
    void accept();
    void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

    boost::asio::any_io_executor ex_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<const std::string> server_;
};

}  // namespace http_server
