// Networking (Tokio's tokio::net): tcp_listener, tcp_stream (and its split halves),
// udp_socket. Every call suspends only the calling task; see docs/guide and the per-class reference
// comments.
#pragma once

#include <weft/error.hpp>
#include <weft/net/io_backend.hpp>
#include <weft/net/tcp_halves.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/net/udp_socket.hpp>
