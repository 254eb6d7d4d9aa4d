// The sliver of HTTP/1.1 (RFC 9112) the console needs: finding the end of a request head,
// parsing it strictly, and writing a response head. No bodies are read; every response
// closes the connection, so no message framing beyond the head is needed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::diagnostics {

/// The offset just past the blank line ending the head in `buf` (CRLF CRLF, or bare LF LF
/// which RFC 9112 lets a server accept), or npos when the head is not complete yet.
std::size_t find_head_end(std::string_view buf) noexcept;

/// A parsed request head. The views point into the buffer that was parsed.
struct request {
    std::string_view method;
    std::string_view target;  ///< origin-form: starts with '/'
    std::string_view path;    ///< target without its query
    int minor_version = 1;    ///< HTTP/1.<minor_version>
    std::vector<std::pair<std::string_view, std::string_view>> headers;  ///< value trimmed

    /// The first header called `name` (case-insensitive), or empty.
    [[nodiscard]] std::string_view header(std::string_view name) const noexcept;
    /// How many headers are called `name` (case-insensitive).
    [[nodiscard]] std::size_t count(std::string_view name) const noexcept;
};

/// The result of parse_request: 0 when `out` holds a well-formed request, else the status
/// code to answer with (400, or 505 for an HTTP major version other than 1).
int parse_request(std::string_view head, request& out);

/// The reason phrase of the status codes the console sends.
std::string_view reason_phrase(int status) noexcept;

/// A whole response: status line, the console's fixed headers (Content-Type, Content-Length,
/// Cache-Control: no-store, X-Content-Type-Options: nosniff, Connection: close), `extra`
/// header lines (each ending in CRLF) and, unless `head_only`, the body.
std::string make_response(int status, std::string_view content_type, std::string_view body,
                          bool head_only, std::string_view extra = {});

/// True when `host` (a Host header value, with or without a port) names a loopback address
/// or "localhost".
bool is_loopback_host(std::string_view host);

}  // namespace weft::diagnostics
