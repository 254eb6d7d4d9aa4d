// Command-line parsing shared by echo_server and echo_load: "--flag value" pairs, and a
// usage_error that main turns into a message and exit status 2.
#pragma once

#include "load.hpp"

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace echo {

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Parses a whole number in [min, max] given to `flag`.
std::size_t parse_count(std::string_view flag, std::string_view value, std::size_t min,
                        std::size_t max);

/// Parses the load client's flags (--connections N, --seconds S, --size B) from `args` into
/// `opt`, plus "--connect ADDR" when `allow_connect`. Throws usage_error.
void parse_load_flags(std::span<char*> args, load_options& opt, bool allow_connect);

}  // namespace echo
