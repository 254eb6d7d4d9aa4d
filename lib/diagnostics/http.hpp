// The sliver of HTTP/1.1 (RFC 9112) the console needs: reading a request head and writing a
// response. Request heads are parsed by Boost.Beast's parser, so the code facing untrusted
// input is Beast's, not ours. What request_reader adds is only where the console's rules
// differ from Beast's: bare-LF line endings and empty lines before the request line, which
// RFC 9112 2.2 lets a server accept and Beast does not; obs-fold, targets not in origin form
// and a missing or repeated Host, which Beast accepts and the console refuses; and 505 for an
// HTTP major version other than 1, which Beast reports as any malformed version. No bodies
// are read; every response closes the connection, so no message framing beyond the head is
// needed.
#pragma once

// g++ 12 with sanitizers at -O2 reports a false -Wmaybe-uninitialized inside Beast's parser
// (a boost::optional returned as boost::none, basic_parser.hpp): Boost's include directory is
// not a system one here, so the warning would fail the build. Silenced for Beast's headers
// only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#pragma GCC diagnostic pop

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace weft::diagnostics {

/// Reads one request head as its bytes arrive (one reader per connection).
class request_reader {
   public:
    /// The parsed head: method, target, version and header fields.
    using request_type = boost::beast::http::request<boost::beast::http::empty_body>;

    /// A reader for heads of at most `max_head` bytes. The caller enforces that bound on
    /// the bytes it puts (see size()); the reader only keeps Beast's own limit from cutting
    /// in before it.
    explicit request_reader(std::size_t max_head);

    /// Takes the next bytes read from the client. Empty while the head is incomplete and
    /// nothing in it is wrong yet; then 0 when the head is complete and well formed
    /// (request() holds it), else the status to answer with: 400 for a malformed head, 431
    /// for one too large, 505 for an HTTP major version other than 1. Not to be called
    /// again once it returned a value.
    std::optional<int> put(std::string_view bytes);

    /// How many bytes were put so far.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    /// The request; complete once put() returned 0.
    [[nodiscard]] const request_type& request() const { return parser_.get(); }

   private:
    std::optional<int> verdict(boost::beast::error_code ec) const;

    boost::beast::http::request_parser<boost::beast::http::empty_body> parser_;
    std::string buf_;       // every byte put, each bare LF made CRLF
    std::size_t fed_ = 0;   // the prefix of buf_ the parser has consumed
    std::size_t size_ = 0;  // bytes put (before making LFs CRLFs)
};

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
