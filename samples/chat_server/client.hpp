// One chat client's task: asks for a name, then relays lines both ways until the client
// leaves or the server shuts down.
#pragma once

#include "message.hpp"

#include <weft/channel.hpp>
#include <weft/net.hpp>

namespace chat {

/// Serves one client: the first line it sends is its name; every later line goes to the
/// others as "name: line", and their lines come to it. A client that falls more than the
/// channel's capacity behind is told how many lines it missed and continues. Returns when the
/// client closes its side, or after delivering a `last` message (the connection is then
/// closed). Errors of this connection (e.g. a reset) are thrown as system_error.
void serve_client(weft::net::tcp_stream stream, client_id id,
                  weft::broadcast::sender<message> room);

}  // namespace chat
