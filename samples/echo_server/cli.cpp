#include "cli.hpp"

#include <charconv>
#include <chrono>

namespace echo {

std::size_t parse_count(std::string_view flag, std::string_view value, std::size_t min,
                        std::size_t max) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n < min || n > max) {
        throw usage_error(std::string(flag) + " needs a whole number from " + std::to_string(min) +
                          " to " + std::to_string(max) + ", not '" + std::string(value) + "'");
    }
    return n;
}

void parse_load_flags(std::span<char*> args, load_options& opt, bool allow_connect) {
    for (std::size_t i = 0; i < args.size(); i += 2) {
        std::string_view flag = args[i];
        if (i + 1 == args.size()) throw usage_error(std::string(flag) + " needs a value");
        std::string_view value = args[i + 1];
        if (flag == "--connections") {
            opt.connections = parse_count(flag, value, 1, 100000);
        } else if (flag == "--seconds") {
            opt.duration = std::chrono::seconds(parse_count(flag, value, 1, 3600));
        } else if (flag == "--size") {
            opt.message_size = parse_count(flag, value, 1, 1 << 20);
        } else if (flag == "--connect" && allow_connect) {
            opt.address = value;
        } else {
            throw usage_error("unknown argument '" + std::string(flag) + "'");
        }
    }
}

}  // namespace echo
