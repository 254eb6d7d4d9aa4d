// mini_kv's RESP2 parser and reply encoders (samples/mini_kv/resp.hpp), on their own: whole
// requests, requests cut at every byte, pipelining, inline commands, and each malformed or
// oversized request with the outcome the server relies on (rejected: skip it and go on;
// fatal: reply and close).
#include "../../samples/mini_kv/resp.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using kv::resp::limits;
using kv::resp::parser;
using kv::resp::result;
using argv_t = std::vector<std::string>;
using namespace std::string_literals;  // "..."s keeps embedded NULs

namespace {

/// What a connection does: feed `bytes` in pieces of `chunk`, carrying the unconsumed rest
/// over; collects the commands and the errors ("!" + message for fatal, "?" for rejected),
/// stopping at the first fatal.
std::vector<argv_t> feed(std::string_view bytes, std::size_t chunk, limits l = {}) {
    parser p(l);
    std::vector<argv_t> got;
    std::string carry;
    for (std::size_t at = 0; at < bytes.size(); at += chunk) {
        carry.append(bytes.substr(at, chunk));
        std::string_view in = carry;
        argv_t argv;
        for (result r; (r = p.parse(in, argv)) != result::incomplete;) {
            if (r == result::command) {
                got.push_back(argv);
            } else if (r == result::rejected) {
                got.push_back({"?" + p.error()});
            } else {
                got.push_back({"!" + p.error()});
                return got;
            }
        }
        carry = std::string(in);
    }
    if (!carry.empty() || !p.between_requests()) got.push_back({"(incomplete)"});
    return got;
}

}  // namespace

TEST_CASE("resp: a multibulk request, whole and cut at every byte", "[samples][resp]") {
    const std::string req = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$8\r\nva\r\nl\0ue\r\n"s;
    const std::vector<argv_t> want{{"SET", "key", "va\r\nl\0ue"s}};
    for (std::size_t chunk :
         {req.size(), std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{7}}) {
        INFO("chunk " << chunk);
        CHECK(feed(req, chunk) == want);
    }
}

TEST_CASE("resp: pipelined requests, empty arrays and inline commands", "[samples][resp]") {
    const std::string req = "*1\r\n$4\r\nPING\r\n*0\r\n*-1\r\nGET  a\tb\r\n\r\n   "
                            "\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nPING\n";
    const std::vector<argv_t> want{{"PING"}, {"GET", "a", "b"}, {"ECHO", ""}, {"PING"}};
    for (std::size_t chunk : {req.size(), std::size_t{1}, std::size_t{3}}) {
        INFO("chunk " << chunk);
        CHECK(feed(req, chunk) == want);
    }
}

TEST_CASE("resp: incomplete input is kept or consumed as documented", "[samples][resp]") {
    parser p;
    argv_t argv;
    std::string_view in = "*2\r\n$3\r\nGE";
    CHECK(p.parse(in, argv) == result::incomplete);
    CHECK(in.empty());  // the bulk body so far was taken into the parser
    CHECK_FALSE(p.between_requests());
    in = "T\r\n$1";
    CHECK(p.parse(in, argv) == result::incomplete);
    CHECK(in == "$1");  // an unfinished header line is left to the caller
    std::string rest = std::string(in) + "\r\nk\r\n";
    in = rest;
    REQUIRE(p.parse(in, argv) == result::command);
    CHECK(argv == argv_t{"GET", "k"});
    CHECK(p.between_requests());
    CHECK(in.empty());
}

TEST_CASE("resp: an oversized argument is rejected and the stream goes on", "[samples][resp]") {
    limits l;
    l.max_bulk = 10;
    const std::string req =
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$11\r\nhello world\r\n*1\r\n$4\r\nPING\r\n"
        "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n";
    for (std::size_t chunk : {req.size(), std::size_t{1}, std::size_t{4}}) {
        INFO("chunk " << chunk);
        auto got = feed(req, chunk, l);
        REQUIRE(got.size() == 3);
        CHECK(got[0][0] == "?ERR Protocol error: bulk length 11 is over the limit of 10 bytes");
        CHECK(got[1] == argv_t{"PING"});
        CHECK(got[2] == argv_t{"ECHO", "0123456789"});
    }
}

TEST_CASE("resp: malformed framing is fatal, with Redis's messages", "[samples][resp]") {
    limits l;
    l.max_args = 4;
    l.max_inline = 32;
    struct bad_case {
        std::string bytes;
        std::string error;
    };
    const std::vector<bad_case> cases{
        {"*5\r\n", "invalid multibulk length"},
        {"*x\r\n", "invalid multibulk length"},
        {"*\r\n", "invalid multibulk length"},
        {"*99999999999999999999\r\n", "invalid multibulk length"},
        {"*1\r\n$x\r\n", "invalid bulk length"},
        {"*1\r\n$-1\r\n", "invalid bulk length"},
        {"*1\r\n:1\r\n", "expected '$', got ':'"},
        {"*1\r\n\r\n", "expected '$', got ''"},
        {"*1\r\n$4\r\nPINGx\r\n", "expected CRLF after a bulk string"},
        {"*1\r\n$4\r\nPING\rx", "expected CRLF after a bulk string"},
        {std::string(40, 'a'), "too big inline request"},
        {std::string(40, 'a') + "\r\n", "too big inline request"},
        {"*" + std::string(40, '1'), "too big mbulk count string"},
        {"*1\r\n$" + std::string(40, '1'), "too big bulk count string"},
    };
    for (const auto& c : cases) {
        for (std::size_t chunk : {c.bytes.size(), std::size_t{1}}) {
            INFO(c.bytes << " in pieces of " << chunk);
            auto got = feed(c.bytes, chunk, l);
            REQUIRE(got.size() == 1);
            CHECK(got[0][0] == "!ERR Protocol error: " + c.error);
        }
    }
}

TEST_CASE("resp: the limits are inclusive", "[samples][resp]") {
    limits l;
    l.max_args = 2;
    l.max_bulk = 3;
    CHECK(feed("*2\r\n$3\r\nabc\r\n$0\r\n\r\n", 1, l) == std::vector<argv_t>{{"abc", ""}});
}

TEST_CASE("resp: reply encoders", "[samples][resp]") {
    std::string out;
    kv::resp::append_simple(out, "OK");
    kv::resp::append_error(out, "ERR unknown command 'a\r\nb'");
    kv::resp::append_integer(out, -42);
    kv::resp::append_bulk(out, "x\0y"s);
    kv::resp::append_null(out);
    kv::resp::append_array(out, 2);
    CHECK(out == "+OK\r\n-ERR unknown command 'a  b'\r\n:-42\r\n$3\r\nx\0y\r\n$-1\r\n*2\r\n"s);
}

TEST_CASE("resp: encode_command round-trips through the parser", "[samples][resp]") {
    const std::vector<std::string_view> argv{"SET", "k e y", std::string_view("\r\n\0", 3), ""};
    const std::string bytes = kv::resp::encode_command(argv);
    CHECK(feed(bytes, 1) == std::vector<argv_t>{argv_t(argv.begin(), argv.end())});
}
