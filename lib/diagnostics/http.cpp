// Strict parsing of request heads for weft::console (see http.hpp). Strict on purpose: the
// console answers tools and browsers, so anything unusual is more likely an attack or a
// confused client than a peer worth accommodating, and 400 is the safe answer.
#include "http.hpp"

#include <boost/asio/ip/address.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cctype>

namespace weft::diagnostics {
namespace {

// RFC 9110 token characters (method and header names).
bool is_tchar(char c) noexcept {
    if (std::isalnum(static_cast<unsigned char>(c))) return true;
    constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
    return extra.find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Splits off the next line (without its LF and an optional CR before it). False when a bare
// CR appears anywhere else: a line ending some parsers accept and others do not is how
// request smuggling starts.
bool next_line(std::string_view& rest, std::string_view& line) noexcept {
    std::size_t lf = rest.find('\n');
    if (lf == std::string_view::npos) {
        line = rest;
        rest = {};
    } else {
        line = rest.substr(0, lf);
        rest.remove_prefix(lf + 1);
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line.find('\r') == std::string_view::npos;
}

}  // namespace

std::size_t find_head_end(std::string_view buf) noexcept {
    for (std::size_t lf = buf.find('\n'); lf != std::string_view::npos;
         lf = buf.find('\n', lf + 1)) {
        std::size_t next = lf + 1;
        if (next < buf.size() && buf[next] == '\r') ++next;
        if (next < buf.size() && buf[next] == '\n') return next + 1;
    }
    return std::string_view::npos;
}

std::string_view request::header(std::string_view name) const noexcept {
    for (const auto& [k, v] : headers) {
        if (iequals(k, name)) return v;
    }
    return {};
}

std::size_t request::count(std::string_view name) const noexcept {
    return static_cast<std::size_t>(std::count_if(
        headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }));
}

int parse_request(std::string_view head, request& out) {
    out = request{};
    std::string_view rest = head;
    std::string_view line;
    // RFC 9112 2.2: ignore at least one empty line before the request line.
    do {
        if (rest.empty() || !next_line(rest, line)) return 400;
    } while (line.empty());

    // request-line = method SP request-target SP HTTP-version, single spaces.
    std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return 400;
    std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return 400;
    out.method = line.substr(0, sp1);
    out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (!is_token(out.method)) return 400;
    if (out.target.empty() || out.target.front() != '/') return 400;
    for (char c : out.target) {
        if (c <= 0x20 || c >= 0x7f) return 400;
    }
    out.path = out.target.substr(0, out.target.find('?'));
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        !std::isdigit(static_cast<unsigned char>(version[5])) ||
        !std::isdigit(static_cast<unsigned char>(version[7]))) {
        return 400;
    }
    if (version[5] != '1') return 505;
    out.minor_version = version[7] - '0';

    while (!rest.empty()) {
        if (!next_line(rest, line)) return 400;
        if (line.empty()) break;  // the blank line ending the head
        // obs-fold (a line continuing the previous header) is rejected, as RFC 9112 5.2
        // allows.
        if (line.front() == ' ' || line.front() == '\t') return 400;
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return 400;
        std::string_view name = line.substr(0, colon);
        // No whitespace between the name and the colon (RFC 9112 5.1): that too is a
        // smuggling vector.
        if (!is_token(name)) return 400;
        std::string_view value = trim_ows(line.substr(colon + 1));
        for (char c : value) {
            auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) return 400;
        }
        out.headers.emplace_back(name, value);
    }
    // RFC 9112 3.2: a 1.1 request without exactly one Host is a 400.
    std::size_t hosts = out.count("Host");
    if (hosts > 1 || (out.minor_version >= 1 && hosts == 0)) return 400;
    return 0;
}

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

std::string make_response(int status, std::string_view content_type, std::string_view body,
                          bool head_only, std::string_view extra) {
    std::string out = fmt::format("HTTP/1.1 {} {}\r\n"
                                  "Content-Type: {}\r\n"
                                  "Content-Length: {}\r\n"
                                  "Cache-Control: no-store\r\n"
                                  "X-Content-Type-Options: nosniff\r\n"
                                  "Connection: close\r\n"
                                  "{}\r\n",
                                  status, reason_phrase(status), content_type, body.size(), extra);
    if (!head_only) out += body;
    return out;
}

bool is_loopback_host(std::string_view host) {
    std::string_view name = host;
    if (!name.empty() && name.front() == '[') {
        std::size_t close = name.find(']');
        if (close == std::string_view::npos) return false;
        std::string_view after = name.substr(close + 1);
        if (!after.empty() && after.front() != ':') return false;
        name = name.substr(1, close - 1);
    } else if (std::size_t colon = name.rfind(':'); colon != std::string_view::npos) {
        name = name.substr(0, colon);
    }
    if (iequals(name, "localhost") || iequals(name, "localhost.")) return true;
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(std::string(name), ec);
    return !ec && addr.is_loopback();
}

}  // namespace weft::diagnostics
