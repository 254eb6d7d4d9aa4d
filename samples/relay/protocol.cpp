// Parsing of the relay's client lines (see protocol.hpp for the grammar).
#include "protocol.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace relay {

namespace {

constexpr std::size_t max_topic = 64;

// Splits off the next space-separated word of `rest` (leading spaces skipped).
std::string_view next_word(std::string_view& rest) {
    std::size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        rest = {};
        return {};
    }
    rest.remove_prefix(start);
    std::size_t end = std::min(rest.find(' '), rest.size());
    std::string_view word = rest.substr(0, end);
    rest.remove_prefix(end);
    return word;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b, [](char x, char y) {
        return std::toupper(static_cast<unsigned char>(x)) ==
               std::toupper(static_cast<unsigned char>(y));
    });
}

bool valid_topic(std::string_view t) {
    return !t.empty() && t.size() <= max_topic && std::ranges::all_of(t, [](char c) {
        return static_cast<unsigned char>(c) > ' ' && c != 0x7f;
    });
}

// Quotes client text in an error reply, cut short so a reply stays one short line.
std::string quoted(std::string_view s) {
    constexpr std::size_t keep = 32;
    std::string q = "'";
    for (char c : s.substr(0, keep)) q += (static_cast<unsigned char>(c) < ' ' ? '?' : c);
    q += s.size() > keep ? "...'" : "'";
    return q;
}

}  // namespace

bool parse_number(std::string_view s, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi)
        return false;
    out = v;
    return true;
}

std::variant<command, parse_error> parse(std::string_view line) {
    std::string_view rest = line;
    std::string_view verb = next_word(rest);
    if (verb.empty()) return parse_error{"empty line"};
    command c;
    auto topic_arg = [&](const char* usage) -> std::variant<command, parse_error> {
        std::string_view topic = next_word(rest);
        if (topic.empty()) return parse_error{std::string("usage: ") + usage};
        if (!valid_topic(topic)) return parse_error{"bad topic " + quoted(topic)};
        c.topic = topic;
        return c;
    };
    if (equals_ignore_case(verb, "SUB") || equals_ignore_case(verb, "UNSUB")) {
        bool sub = equals_ignore_case(verb, "SUB");
        c.what = sub ? command::verb::sub : command::verb::unsub;
        auto r = topic_arg(sub ? "SUB topic" : "UNSUB topic");
        if (std::holds_alternative<command>(r) && !next_word(rest).empty()) {
            return parse_error{std::string("usage: ") + (sub ? "SUB topic" : "UNSUB topic")};
        }
        return r;
    }
    if (equals_ignore_case(verb, "PUB")) {
        c.what = command::verb::pub;
        auto r = topic_arg("PUB topic text");
        if (!std::holds_alternative<command>(r)) return r;
        // The text is the rest of the line after the one space that ends the topic.
        if (rest.size() < 2) return parse_error{"usage: PUB topic text"};
        std::get<command>(r).text = rest.substr(1);
        return r;
    }
    if (equals_ignore_case(verb, "QUIT")) {
        if (!next_word(rest).empty()) return parse_error{"usage: QUIT"};
        c.what = command::verb::quit;
        return c;
    }
    if (equals_ignore_case(verb, "CONFIG")) {
        std::string_view key = next_word(rest);
        std::string_view value = next_word(rest);
        if (key.empty()) {
            c.what = command::verb::config_get;
            return c;
        }
        if (!next_word(rest).empty() || value.empty()) {
            return parse_error{"usage: CONFIG [rate N | idle MS]"};
        }
        if (equals_ignore_case(key, "rate")) {
            c.what = command::verb::config_rate;
            if (!parse_number(value, 0, max_rate, c.value)) {
                return parse_error{"rate must be a whole number from 0 to " +
                                   std::to_string(max_rate)};
            }
            return c;
        }
        if (equals_ignore_case(key, "idle")) {
            c.what = command::verb::config_idle;
            if (!parse_number(value, 1, max_idle_ms, c.value)) {
                return parse_error{"idle must be a whole number of ms from 1 to " +
                                   std::to_string(max_idle_ms)};
            }
            return c;
        }
        return parse_error{"unknown CONFIG key " + quoted(key)};
    }
    return parse_error{"unknown command " + quoted(verb)};
}

}  // namespace relay
