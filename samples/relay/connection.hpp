// One client connection of the relay: its command loop, its subscriptions and its writer.
#pragma once

#include "config.hpp"
#include "topics.hpp"

#include <weft/channel.hpp>
#include <weft/net.hpp>
#include <weft/sync.hpp>

namespace relay {

/// What every connection shares; owned by the server, which outlives its connections.
struct shared {
    topic_registry& topics;
    const weft::watch::sender<config>& config_tx;  // CONFIG stores here
    weft::cancellation_token stop;                 // cancelled on SIGINT
    limits lim;
};

/// How a connection ended.
enum class ending { client, idle, shutdown };

/// Serves one client until it quits, disconnects, stays idle past the idle timeout ("BYE
/// idle") or the server shuts down ("BYE shutdown"); then closes the connection. I/O errors
/// of this connection are thrown (system_error); they end only this connection.
ending serve_connection(weft::net::tcp_stream stream, const shared& sh);

}  // namespace relay
