// RESP2 parsing follows Redis's own (networking.c, processMultibulkBuffer and
// processInlineBuffer): the same limits, and the same choice of which errors end the
// connection. A header that does not parse leaves no way to find where the next request
// starts, so it is fatal; an argument that is only too long still has a known length, so its
// bytes are skipped and the connection survives.
#include "resp.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace kv::resp {

namespace {

/// Takes one line ending in "\n" (a preceding "\r" is dropped) off the front of `in`.
std::optional<std::string_view> take_line(std::string_view& in) {
    auto nl = in.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    std::string_view line = in.substr(0, nl);
    in.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

std::optional<long long> to_integer(std::string_view s) {
    long long n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return n;
}

}  // namespace

result parser::fail(std::string msg) {
    error_ = "ERR Protocol error: " + std::move(msg);
    return result::fatal;
}

// [parse]
result parser::parse(std::string_view& in, std::vector<std::string>& argv) {
    while (!in_request_) {
        if (in.empty()) return result::incomplete;
        if (in.front() != '*') return parse_inline(in, argv);
        std::string_view rest = in;
        auto line = take_line(rest);
        if (!line) {
            if (in.size() > limits_.max_inline) return fail("too big mbulk count string");
            return result::incomplete;
        }
        auto n = to_integer(line->substr(1));
        if (!n || *n > static_cast<long long>(limits_.max_args))
            return fail("invalid multibulk length");
        in = rest;
        if (*n <= 0) continue;  // "*0" and "*-1" are empty requests: no reply
        in_request_ = true;
        args_left_ = static_cast<std::size_t>(*n);
        args_.clear();
        args_.reserve(std::min<std::size_t>(args_left_, 1024));  // grow as they really come
        rejection_.clear();
    }
    while (args_left_ > 0) {
        if (!in_bulk_) {
            std::string_view rest = in;
            auto line = take_line(rest);
            if (!line) {
                if (in.size() > limits_.max_inline) return fail("too big bulk count string");
                return result::incomplete;
            }
            if (line->empty() || line->front() != '$') {
                return fail("expected '$', got '" + std::string(line->substr(0, 1)) + "'");
            }
            auto len = to_integer(line->substr(1));
            if (!len || *len < 0) return fail("invalid bulk length");
            in = rest;
            in_bulk_ = true;
            bulk_len_ = static_cast<std::size_t>(*len);
            bulk_left_ = bulk_len_ + 2;
            if (bulk_len_ > limits_.max_bulk && rejection_.empty()) {
                rejection_ = "ERR Protocol error: bulk length " + std::to_string(bulk_len_) +
                             " is over the limit of " + std::to_string(limits_.max_bulk) + " bytes";
            }
            if (rejection_.empty()) {
                args_.emplace_back().reserve(std::min<std::size_t>(bulk_len_, 64 * 1024));
            }
        }
        if (auto r = parse_body(in); r != result::command) return r;
    }
    in_request_ = false;
    if (!rejection_.empty()) {
        error_ = std::move(rejection_);
        rejection_.clear();
        return result::rejected;
    }
    argv.swap(args_);
    args_.clear();
    return result::command;
}
// [parse]

// Copies as much of the current bulk body as `in` has (or skips it, for a refused request),
// then checks its CRLF. command here means "this argument is complete".
result parser::parse_body(std::string_view& in) {
    if (bulk_left_ > 2) {
        std::size_t n = std::min(in.size(), bulk_left_ - 2);
        if (rejection_.empty()) args_.back().append(in.substr(0, n));
        in.remove_prefix(n);
        bulk_left_ -= n;
    }
    while (bulk_left_ > 0 && bulk_left_ <= 2 && !in.empty()) {
        if (in.front() != (bulk_left_ == 2 ? '\r' : '\n'))
            return fail("expected CRLF after a bulk string");
        in.remove_prefix(1);
        --bulk_left_;
    }
    if (bulk_left_ > 0) return result::incomplete;
    in_bulk_ = false;
    --args_left_;
    return result::command;
}

// Inline commands ("SET k v\r\n", as typed into telnet): arguments separated by spaces or
// tabs. Quoting is not supported (Redis's is); an empty line is skipped.
result parser::parse_inline(std::string_view& in, std::vector<std::string>& argv) {
    for (;;) {
        std::string_view rest = in;
        auto line = take_line(rest);
        if (!line) {
            if (in.size() > limits_.max_inline) return fail("too big inline request");
            return result::incomplete;
        }
        if (line->size() > limits_.max_inline) return fail("too big inline request");
        in = rest;
        argv.clear();
        std::string_view l = *line;
        while (!l.empty()) {
            auto start = l.find_first_not_of(" \t");
            if (start == std::string_view::npos) break;
            l.remove_prefix(start);
            auto end = std::min(l.find_first_of(" \t"), l.size());
            argv.emplace_back(l.substr(0, end));
            l.remove_prefix(end);
        }
        if (!argv.empty()) return result::command;
        if (in.empty() || in.front() == '*') return parse(in, argv);
    }
}

void append_simple(std::string& out, std::string_view s) {
    out += '+';
    out += s;
    out += "\r\n";
}

void append_error(std::string& out, std::string_view msg) {
    out += '-';
    // The message may quote the client's input: a CR or LF would end the reply early.
    std::size_t at = out.size();
    out += msg;
    std::replace_if(
        out.begin() + static_cast<std::ptrdiff_t>(at), out.end(),
        [](char c) { return c == '\r' || c == '\n'; }, ' ');
    out += "\r\n";
}

void append_integer(std::string& out, long long n) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out += ':';
    out.append(buf, end);
    out += "\r\n";
}

void append_bulk(std::string& out, std::string_view s) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, s.size());
    out += '$';
    out.append(buf, end);
    out += "\r\n";
    out += s;
    out += "\r\n";
}

void append_null(std::string& out) { out += "$-1\r\n"; }

void append_array(std::string& out, std::size_t n) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out += '*';
    out.append(buf, end);
    out += "\r\n";
}

std::string encode_command(std::span<const std::string_view> argv) {
    std::string out;
    append_array(out, argv.size());
    for (auto a : argv) append_bulk(out, a);
    return out;
}

}  // namespace kv::resp
