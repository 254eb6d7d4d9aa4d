// The relay's line protocol: parsing one client line into a command, and the lines the server
// sends back. Pure functions, no I/O, so the rules live in one place.
//
//   client -> server            server -> client
//   SUB topic                   OK
//   UNSUB topic                 OK | ERR not subscribed to topic
//   PUB topic text...           OK | ERR rate
//   CONFIG rate N               OK            (PUBs per second per client; 0: no limit)
//   CONFIG idle MS              OK            (idle timeout in milliseconds)
//   CONFIG                      CONFIG rate N idle MS   (what this connection applies now)
//   QUIT                        BYE
//   anything else               ERR <reason>
//                               MSG topic text, LAGGED topic N, BYE idle, BYE shutdown
//
// Verbs are case-insensitive; a topic is 1 to 64 bytes without spaces or control characters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace relay {

/// One parsed client line.
struct command {
    enum class verb { sub, unsub, pub, quit, config_get, config_rate, config_idle };
    verb what = verb::quit;
    std::string topic;        // sub, unsub, pub
    std::string text;         // pub: the rest of the line, spaces included
    std::uint64_t value = 0;  // config_rate, config_idle
};

/// Why a line was refused; sent to the client as "ERR <reason>".
struct parse_error {
    std::string reason;
};

/// The largest rate and idle timeout CONFIG (and the command line) accept.
inline constexpr std::uint64_t max_rate = 1'000'000;
inline constexpr std::uint64_t max_idle_ms = 86'400'000;  // a day

/// Parses one line (its '\n' and an optional '\r' before it already removed).
std::variant<command, parse_error> parse(std::string_view line);

/// Parses a whole decimal number in [lo, hi]; false if `s` is anything else.
bool parse_number(std::string_view s, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out);

}  // namespace relay
