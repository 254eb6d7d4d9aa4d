// asio_legacy's server: a callback-style Asio acceptor, as an existing codebase has it, running
// on a weft runtime's executor. Its accept handler hands each connection to the code of the
// chosen step.
#pragma once

#include <weft/asio.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>

#include <memory>

namespace legacy {

class legacy_server : public std::enable_shared_from_this<legacy_server> {
   public:
    /// Opens the acceptor on `endpoint` (port 0 picks one). `step`: 1, 2 or 3 (see main.cpp).
    legacy_server(weft::executor ex, const boost::asio::ip::tcp::endpoint& endpoint, int step);

    [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const {
        return acceptor_.local_endpoint();
    }
    /// Starts accepting (the handlers keep the server alive).
    void start();
    /// Closes the acceptor; returns once that is done. Call from outside the runtime's
    /// workers (it waits).
    void stop();

   private:
    void accept();
    void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

    weft::executor ex_;
    // The acceptor's handlers, start() and stop() all run on this strand: the runtime's
    // executor runs handlers on any worker, in parallel, and the strand serialises them.
    boost::asio::strand<weft::executor> strand_;
    boost::asio::ip::tcp::acceptor acceptor_;
    int step_;
};

}  // namespace legacy
