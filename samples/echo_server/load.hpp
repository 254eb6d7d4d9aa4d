// The load client: N connections sending messages to an echo server as fast as the replies
// come back, each reply checked byte for byte.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace echo {

struct load_options {
    std::string address;  // "host:port" of the echo server
    std::size_t connections = 8;
    std::chrono::milliseconds duration{2000};
    std::size_t message_size = 64;  // bytes per request
};

struct load_result {
    std::uint64_t requests = 0;            // round trips whose reply matched
    std::uint64_t mismatches = 0;          // replies that differed from the request
    std::uint64_t failed_connections = 0;  // connections that failed (error text on stderr)
    double seconds = 0;                    // measured wall time

    [[nodiscard]] double requests_per_second() const {
        return seconds > 0 ? requests / seconds : 0;
    }
    [[nodiscard]] bool ok() const {
        return mismatches == 0 && failed_connections == 0 && requests > 0;
    }
};

/// Runs the load from the calling task (one task per connection) and returns the totals.
load_result run_load(const load_options& options);

/// One line for humans: "... N requests/s ...".
std::string describe(const load_options& options, const load_result& result);

}  // namespace echo
