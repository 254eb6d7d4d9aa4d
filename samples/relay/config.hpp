// The live configuration every connection follows, held in a weft::watch: CONFIG from any
// client stores a new value, and each connection's select sees watch::changed() and applies
// it (its rate and idle timeout) from its next command on.
#pragma once

#include <chrono>
#include <cstdint>

namespace relay {

struct config {
    std::uint64_t rate = 100;                // PUBs per second per client; 0: unlimited
    std::chrono::milliseconds idle{60'000};  // a client silent this long is closed
};

/// Fixed at start (command line), the same for every connection.
struct limits {
    std::size_t max_clients = 64;
    std::size_t topic_capacity = 64;  // messages a topic keeps for slow subscribers
    std::size_t max_line = 4096;      // bytes, '\n' included
};

}  // namespace relay
