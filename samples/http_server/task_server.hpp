// The HTTP server with a weft task per connection: the same replies as callback_server, the
// connection code in blocking style (read a request, write the reply, again), each read and
// write suspending only its task. Beast's own asynchronous read and write are used with
// weft::use_fiber, so the parser and serializer are the callback server's.
#pragma once

#include <weft/net/tcp_listener.hpp>

#include <string>

namespace http_server {

/// Accepts on `listener` until the calling task is aborted, spawning a task per connection.
/// Call from a task.
void serve_tasks(weft::net::tcp_listener& listener, const std::string& server);

}  // namespace http_server
