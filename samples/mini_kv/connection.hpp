// One client connection of mini_kv: read requests, run them, write the replies.
#pragma once

#include "resp.hpp"
#include "store.hpp"

#include <weft/net.hpp>

namespace kv {

/// Serves `stream` until the client closes it, sends QUIT, or breaks the protocol (which is
/// answered with an error, then the connection is closed). Throws system_error on I/O errors.
void serve_connection(weft::net::tcp_stream stream, store& db, const resp::limits& limits);

}  // namespace kv
