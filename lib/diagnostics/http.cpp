// Request heads for weft::console (see http.hpp): Beast parses them; this file holds only
// the console's own rules around it. Strict on purpose: the console answers tools and
// browsers, so anything unusual is more likely an attack or a confused client than a peer
// worth accommodating, and 400 is the safe answer.
#include "http.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>

namespace weft::diagnostics {
namespace {
namespace beast_http = boost::beast::http;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// True when the request line `line`, whose version Beast rejected, names a well-formed
// version of a major other than 1. Beast has parsed "method SP target SP" by then (neither
// holds a space), so the version is the 8 bytes after the second space.
bool unsupported_major(std::string_view line) noexcept {
    std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return false;
    sp = line.find(' ', sp + 1);
    if (sp == std::string_view::npos) return false;
    std::string_view v = line.substr(sp + 1, 8);
    return v.size() == 8 && v.substr(0, 5) == "HTTP/" && is_digit(v[5]) && v[6] == '.' &&
           is_digit(v[7]) && v[5] != '1';
}

}  // namespace

request_reader::request_reader(std::size_t max_head) {
    // Beast's limit bounds what one put() hands it and it has not consumed yet, counted in
    // buf_, which is at most twice as long as what was put: at twice the caller's bound it
    // never cuts in before the caller's, and is left as a backstop.
    constexpr std::size_t beast_max = UINT32_MAX / 2 - 1;
    parser_.header_limit(static_cast<std::uint32_t>(std::min(max_head, beast_max) * 2 + 2));
    // A head only: the console reads no body, so whatever Content-Length or chunked coding
    // announces is not parsed (nor checked against Beast's body limit).
    parser_.skip(true);
}

std::optional<int> request_reader::put(std::string_view bytes) {
    size_ += bytes.size();
    for (char c : bytes) {
        // RFC 9112 2.2 lets a server take a bare LF for a line end; Beast takes only CRLF.
        // A bare CR stays as it is, and Beast rejects it.
        if (c == '\n' && (buf_.empty() || buf_.back() != '\r')) buf_ += '\r';
        buf_ += c;
    }
    if (!parser_.got_some()) {
        // RFC 9112 2.2: empty lines before the request line are ignored; Beast would take
        // the first for a malformed method. A lone CR may be the start of one more.
        while (buf_.compare(fed_, 2, "\r\n") == 0) fed_ += 2;
        if (fed_ == buf_.size() || buf_.compare(fed_, std::string::npos, "\r") == 0)
            return std::nullopt;
    }
    boost::beast::error_code ec;
    // Beast consumes whole lines only (a header line once it has seen that the next one is
    // not a fold) and copies what it keeps: the rest is passed again with the next bytes.
    fed_ += parser_.put(boost::asio::buffer(buf_.data() + fed_, buf_.size() - fed_), ec);
    if (ec == beast_http::error::need_more) return std::nullopt;
    if (ec) return verdict(ec);
    if (!parser_.is_header_done()) return std::nullopt;

    // Beast joins an obs-fold line to the value before it. RFC 9112 5.2 lets a server reject
    // it instead, and the console does: a line one parser folds and another splits is how
    // request smuggling starts. In a complete head (its request line holds no LF, and Beast
    // rejects a header line that starts with whitespace right after it) any LF followed by
    // whitespace is a fold.
    std::string_view head(buf_.data(), fed_);
    if (head.find("\n ") != std::string_view::npos || head.find("\n\t") != std::string_view::npos)
        return 400;
    const request_type& req = parser_.get();
    // Beast takes any request-target; the console serves paths only (origin form).
    if (req.target().empty() || req.target().front() != '/') return 400;
    // RFC 9112 3.2: a 1.1 request without exactly one Host is a 400; Beast does not check.
    std::size_t hosts = req.count(beast_http::field::host);
    if (hosts > 1 || (req.version() >= 11 && hosts == 0)) return 400;
    return 0;
}

std::optional<int> request_reader::verdict(boost::beast::error_code ec) const {
    if (ec == beast_http::error::header_limit) return 431;
    // Beast reports HTTP/2.0 as it reports HTTP/1.x: bad_version. A major version the server
    // does not implement has its own status (RFC 9110 15.6.6), which the console has always
    // answered. On an error in the request line Beast has consumed none of it.
    if (ec == beast_http::error::bad_version &&
        unsupported_major(std::string_view(buf_).substr(fed_))) {
        return 505;
    }
    return 400;
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
    if (boost::beast::iequals(name, "localhost") || boost::beast::iequals(name, "localhost."))
        return true;
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(std::string(name), ec);
    return !ec && addr.is_loopback();
}

}  // namespace weft::diagnostics
