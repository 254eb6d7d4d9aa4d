// A minimal blocking HTTP client for the console tests: a plain POSIX socket with send and
// receive timeouts, used from the test thread (never a worker), so every wait is bounded
// and nothing depends on the runtime under test to talk to it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace weft::test {

/// A connected client socket to 127.0.0.1:port; every send and receive times out after
/// `timeout` (the call then throws).
class raw_client {
   public:
    /// `rcvbuf` > 0 sets SO_RCVBUF before connecting (a small one makes a client that does
    /// not read push back on the server quickly).
    explicit raw_client(std::uint16_t port,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                        int rcvbuf = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
        tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            int e = errno;
            ::close(fd_);
            throw std::system_error(e, std::generic_category(), "connect");
        }
    }
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;
    ~raw_client() { close(); }

    void send(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw std::system_error(errno, std::generic_category(), "send");
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

    /// Everything until the server closes; throws on timeout, returns what it got on reset.
    std::string read_all() {
        std::string out;
        char buf[8192];
        for (;;) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n == 0) return out;
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == ECONNRESET) return out;
                throw std::system_error(errno, std::generic_category(), "recv (timeout?)");
            }
            out.append(buf, static_cast<std::size_t>(n));
        }
    }

    /// True when the server has closed (or reset) the connection within `d`: EOF is readable.
    bool closed_within(std::chrono::milliseconds d) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(d.count())) <= 0) return false;
        char c;
        ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

   private:
    int fd_ = -1;
};

/// A parsed response.
struct http_response {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  ///< names lowercased
    std::string body;
    std::string raw;

    [[nodiscard]] std::string header(std::string_view name) const {
        for (const auto& [k, v] : headers) {
            if (k == name) return v;
        }
        return {};
    }
};

/// Parses a whole response (status line, headers, body to the end). status 0 if malformed.
inline http_response parse_response(std::string raw) {
    http_response r;
    r.raw = std::move(raw);
    std::size_t end = r.raw.find("\r\n\r\n");
    if (end == std::string::npos || r.raw.compare(0, 9, "HTTP/1.1 ") != 0) return r;
    std::string_view head(r.raw.data(), end);
    r.status = std::stoi(std::string(head.substr(9, 3)));
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
        std::size_t next = head.find("\r\n", pos + 2);
        std::string_view line =
            head.substr(pos + 2, next == std::string_view::npos ? head.npos : next - pos - 2);
        std::size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
            std::string name(line.substr(0, colon));
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            r.headers.emplace_back(std::move(name), std::string(value));
        }
        pos = next;
    }
    r.body = r.raw.substr(end + 4);
    return r;
}

/// Sends `request` verbatim and returns the parsed response.
inline http_response http_raw(std::uint16_t port, std::string_view request) {
    raw_client c(port);
    c.send(request);
    return parse_response(c.read_all());
}

/// GET `path` with a Host header and Connection: close.
inline http_response http_get(std::uint16_t port, std::string_view path,
                              std::string_view method = "GET") {
    std::string req = std::string(method) + " " + std::string(path) +
                      " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUser-Agent: weft-test\r\nConnection: close\r\n\r\n";
    return http_raw(port, req);
}

}  // namespace weft::test
