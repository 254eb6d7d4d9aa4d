// The echo server's two pieces: the accept loop and one connection's echo loop.
#pragma once

#include <weft/net.hpp>

namespace echo {

/// Echoes every byte a client sends back to it, until the client closes its sending side.
void serve_connection(weft::net::tcp_stream stream);

/// Accepts connections forever, each served by a task of its own. Returns only by an
/// exception: cancel the calling task (abort, select, timeout) to stop it; the connection
/// tasks still running are then aborted and joined before it returns.
[[noreturn]] void serve(weft::net::tcp_listener& listener);

}  // namespace echo
