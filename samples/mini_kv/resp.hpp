// RESP2, the Redis wire protocol: an incremental request parser (multibulk arrays and inline
// commands) and the reply encoders. No I/O here, so the parser is unit-tested on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kv::resp {

/// Request size limits; the defaults are Redis's (proto-max-bulk-len, the multibulk count
/// limit, PROTO_INLINE_MAX_SIZE). Tests make them small.
struct limits {
    std::size_t max_bulk = 512 * 1024 * 1024;  // bytes in one argument
    std::size_t max_args = 1024 * 1024;        // arguments in one request
    std::size_t max_inline = 64 * 1024;        // bytes in an inline request or a header line
};

/// What parse() found.
enum class result {
    command,     // a whole request: argv holds it
    incomplete,  // more bytes are needed; what was not consumed must be passed again
    rejected,    // a well-framed request was refused (an argument over max_bulk): its bytes
                 // are consumed; reply error() and carry on with the next request
    fatal,       // the byte stream cannot be framed any more: reply error() and close
};

/// Parses requests from a byte stream that arrives in pieces. Keeps the request in progress
/// between calls, so each byte is looked at once however the stream is cut, and argument
/// bodies are copied as they come (nothing is buffered twice).
///
///     kv::resp::parser p;
///     std::string_view in = bytes_just_read;
///     std::vector<std::string> argv;
///     while (p.parse(in, argv) == kv::resp::result::command) execute(argv);
///     keep(in);   // an unfinished header line: prepend it to the next bytes
class parser {
   public:
    explicit parser(limits l = {})
        : limits_(l) {}

    /// Consumes bytes from the front of `in`. On incomplete, `in` holds at most an
    /// unfinished header or inline line (shorter than max_inline, else fatal).
    result parse(std::string_view& in, std::vector<std::string>& argv);

    /// The error to reply after rejected or fatal, e.g. "ERR Protocol error: invalid bulk
    /// length".
    [[nodiscard]] const std::string& error() const noexcept { return error_; }

    /// True unless a multibulk request has been started and not finished.
    [[nodiscard]] bool between_requests() const noexcept { return !in_request_; }

   private:
    result fail(std::string msg);
    result parse_inline(std::string_view& in, std::vector<std::string>& argv);
    result parse_body(std::string_view& in);

    limits limits_;
    bool in_request_ = false;  // a multibulk header was read; args_left_ elements to go
    std::size_t args_left_ = 0;
    bool in_bulk_ = false;  // a "$len" header was read; bulk_left_ bytes (CRLF included) to go
    std::size_t bulk_len_ = 0;
    std::size_t bulk_left_ = 0;
    std::vector<std::string> args_;
    std::string rejection_;  // non-empty: skipping the rest of a refused request
    std::string error_;
};

// Reply encoders: each appends one RESP2 value to `out`.
void append_simple(std::string& out, std::string_view s);   // +OK
void append_error(std::string& out, std::string_view msg);  // -ERR ... (CR/LF become spaces)
void append_integer(std::string& out, long long n);         // :42
void append_bulk(std::string& out, std::string_view s);     // $3 foo
void append_null(std::string& out);                         // $-1 (nil)
void append_array(std::string& out, std::size_t n);         // *n, then n values

/// A request as a client sends it (an array of bulk strings), e.g. for the append-only log.
std::string encode_command(std::span<const std::string_view> argv);

}  // namespace kv::resp
