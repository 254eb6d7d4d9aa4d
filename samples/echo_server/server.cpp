// The echo server: one task per connection, written as plain blocking-style code.
#include "server.hpp"

#include <weft/task.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <vector>

namespace echo {

// [echo_loop]
void serve_connection(weft::net::tcp_stream stream) {
    // Replies are small and latency-bound: do not let Nagle's algorithm hold them back.
    stream.set_nodelay(true);
    std::array<char, 16 * 1024> buf;
    // read_some and write_all suspend this task only; the worker runs other connections.
    while (std::size_t n = stream.read_some(boost::asio::buffer(buf))) {
        stream.write_all(boost::asio::buffer(buf.data(), n));
    }
    stream.shutdown_write();  // the client reads end of stream: we are done too
}
// [echo_loop]

// [accept_loop]
void serve(weft::net::tcp_listener& listener) {
    std::vector<weft::join_handle<void>> connections;
    // Whatever ends this loop (normally the caller's cancellation, thrown from accept), the
    // connection tasks are aborted and joined first: none outlives the listener's owner.
    struct abort_on_exit {
        std::vector<weft::join_handle<void>>& tasks;
        ~abort_on_exit() {
            for (auto& t : tasks) t.abort();
            for (auto& t : tasks) {
                try {
                    t.join();  // waits even while we unwind from a cancellation
                } catch (const weft::join_error&) {
                    // aborted, or the connection failed (e.g. reset by the peer): either way done
                }
            }
        }
    } guard{connections};
    for (;;) {
        weft::net::tcp_stream stream = listener.accept();
        // Forget the handles of connections that have ended, so a long-running server does
        // not accumulate them.
        std::erase_if(connections, [](const auto& t) { return t.is_finished(); });
        connections.push_back(weft::spawn([s = std::move(stream)]() mutable {
            try {
                serve_connection(std::move(s));
            } catch (const boost::system::system_error&) {
                // A client that resets its connection ends only its own task.
            }
        }));
    }
}
// [accept_loop]

}  // namespace echo
