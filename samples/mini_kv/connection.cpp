// A connection's task. Pipelining falls out of the loop's shape: every request that arrived
// in one read is executed, and all their replies go back in one write.
#include "connection.hpp"

#include "commands.hpp"

#include <boost/asio/buffer.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace kv {

// [connection]
void serve_connection(weft::net::tcp_stream stream, store& db, const resp::limits& limits) {
    stream.set_nodelay(true);  // replies are small; send each batch at once
    resp::parser parser(limits);
    std::vector<char> buf(16 * 1024);
    std::string carry;  // an unfinished header line from the previous read (parser's rule)
    std::string out;
    std::vector<std::string> argv;
    bool open = true;
    while (open) {
        std::size_t n = stream.read_some(boost::asio::buffer(buf));
        if (n == 0) return;  // the client closed the connection
        std::string_view in(buf.data(), n);
        if (!carry.empty()) {
            carry.append(in);
            in = carry;
        }
        for (resp::result r; open && (r = parser.parse(in, argv)) != resp::result::incomplete;) {
            if (r == resp::result::command) {
                open = execute(argv, db, out) == after::reply;
            } else {
                resp::append_error(out, parser.error());
                open = r == resp::result::rejected;  // fatal: the framing is lost
            }
        }
        carry = std::string(in);  // (a copy: `in` may point into carry)
        if (!out.empty()) {
            stream.write_all(boost::asio::buffer(out));
            out.clear();
        }
    }
    stream.shutdown_write();  // after the last reply: the client reads it, then end of stream
}
// [connection]

}  // namespace kv
