// Steps 2 and 3 of asio_legacy: the same echo connection as a fiber (a weft task), spawned
// from the old accept handler.
#pragma once

#include <boost/asio/ip/tcp.hpp>

namespace legacy {

/// Step 2: blocking-style code on the raw Asio socket, each async_* call given
/// weft::use_fiber so that it suspends this task until the operation completes. The socket,
/// its executor and the rest of the program are unchanged: only this function is new.
void echo_with_use_fiber(boost::asio::ip::tcp::socket socket);

/// Step 3: the socket handed to weft::net::tcp_stream, the API new code is written against
/// (read_some / write_all / read_line, Tokio's TcpStream).
void echo_with_tcp_stream(boost::asio::ip::tcp::socket socket);

}  // namespace legacy
