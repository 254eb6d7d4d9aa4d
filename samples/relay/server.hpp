// The relay's listener: accepts clients up to the cap, owns their connection tasks, and shuts
// them down gracefully.
#pragma once

#include "config.hpp"

#include <weft/net.hpp>
#include <weft/sync.hpp>

#include <cstddef>

namespace relay {

/// Serves `listener` until `stop` is cancelled, then lets every connection say "BYE shutdown"
/// and waits for them (aborting those still running after 2 s). Returns how many connections
/// the shutdown closed.
std::size_t serve(weft::net::tcp_listener& listener, weft::cancellation_token stop,
                  const config& initial, const limits& lim);

}  // namespace relay
