// tcp_stream: a connected TCP socket whose reads and writes suspend only the calling task
// (Tokio's TcpStream).
#pragma once

#include <weft/net/tcp_halves.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>
#include <utility>

namespace weft::net {

/// A connected TCP stream. Movable, not copyable. Bound to the io_context shard it was
/// created on (whichever worker later uses it) and must not outlive its runtime.
///
///     auto s = weft::net::tcp_stream::connect("127.0.0.1:8080");
///     s.write_all(asio::buffer(request));
///     std::string line;
///     while (s.read_line(line) > 0) { ...; line.clear(); }
///
/// Calls are made from one task at a time (split() gives two halves for a reader and a writer
/// task). They also work from a thread that may block (the blocking pool, a plain thread):
/// that thread blocks. From an Asio handler on a worker they throw std::logic_error.
/// I/O errors are thrown as boost::system::system_error whose code() is the socket's error
/// (e.g. asio::error::connection_reset when the peer reset the connection); an error ends
/// only this stream. The socket is put in non-blocking mode (socket().non_blocking() is
/// true); do not turn that off. How a task's transfers reach the kernel is the runtime's
/// socket backend (builder::socket_io, net::io_backend): on io_uring (the default where the
/// kernel allows) each transfer is queued on the worker's ring and the worker hands all
/// queued transfers to the kernel in one call when it runs out of tasks; on the reactor
/// each is tried directly and waits for readiness only when the socket is not ready. On
/// io_uring the socket leaves the reactor's epoll set at its first transfer on the ring (the
/// reactor would otherwise be woken for every segment that arrives) and goes back, for good,
/// when something needs the reactor: a select branch's read, a transfer the ring refused, or
/// a call of socket().
class tcp_stream {
   public:
    /// Adopts a connected socket (any io_context; weft's shards or a foreign one).
    explicit tcp_stream(boost::asio::ip::tcp::socket socket);
    /// Takes over `o`'s socket.
    tcp_stream(tcp_stream&& o) noexcept;
    /// Closes this stream's socket, then takes over `o`'s.
    tcp_stream& operator=(tcp_stream&& o) noexcept;
    ~tcp_stream();

    /// Connects to `addr` ("host:port" or "[v6]:port"). A name is resolved on the runtime's
    /// blocking pool; each resolved address is tried in turn and the last error is thrown
    /// if none accepts. std::invalid_argument (naming `addr`) when it does not parse;
    /// weft::no_runtime outside a runtime.
    /// **Cancellation**: a cancellation point; an abort while connecting closes the
    /// half-open socket and throws task_cancelled. Nothing is lost.
    static tcp_stream connect(std::string_view addr,
                              std::source_location where = std::source_location::current());
    /// Connects to one endpoint. Cancellation as above.
    static tcp_stream connect(const boost::asio::ip::tcp::endpoint& ep,
                              std::source_location where = std::source_location::current());

    /// Reads at least one byte into `buf` (waiting until some arrive) and returns the count;
    /// 0 at end of stream (or when `buf` is empty). Bytes that read_line buffered and did
    /// not consume are returned first, without touching the socket.
    /// **Cancellation**: a cancellation point, and cancel-safe: an abort while waiting
    /// throws task_cancelled with nothing read; if data arrived in the same instant, the
    /// call returns it and the next cancellation point throws. In a weft::select branch it
    /// reads only once the branch has won the select: a losing branch takes no byte.
    std::size_t read_some(boost::asio::mutable_buffer buf,
                          std::source_location where = std::source_location::current());

    /// Fills `buf` completely. Throws system_error(asio::error::eof) if the stream ends
    /// first (the bytes read so far are in `buf`).
    /// **Cancellation**: a cancellation point; not cancel-safe: bytes already read into
    /// `buf` when the abort lands are lost to the caller (the stream is then mid-message).
    void read_exact(boost::asio::mutable_buffer buf,
                    std::source_location where = std::source_location::current());

    /// Reads one line: appends the bytes up to and including the next '\n' to `line` and
    /// returns how many were appended; at end of stream, appends what is left (a last line
    /// without '\n') and returns its size, then 0. The stream keeps an internal buffer: bytes
    /// read past the '\n' stay there and are returned by the next read_line, read_some or
    /// read_exact first, so line and raw reads can be mixed. A line is not limited in length
    /// here; the overload with `max_length` bounds it.
    /// **Cancellation**: a cancellation point, and cancel-safe: nothing is appended to `line`
    /// until a whole line is there; a partial line stays in the internal buffer. In a
    /// weft::select branch it reads and returns a line only once the branch has won.
    std::size_t read_line(std::string& line,
                          std::source_location where = std::source_location::current());
    /// As read_line(line), but refuses a line longer than `max_length` bytes ('\n' included):
    /// throws std::length_error naming the limit once that many bytes arrived without a
    /// '\n' (at most about max_length + 4 KiB is ever buffered), appending nothing; the
    /// stream is then mid-line (close it, or discard with read_some). For peers that are not
    /// trusted: without a limit a peer that never sends '\n' is buffered until end of stream.
    /// **Cancellation**: as read_line (a cancellation point, cancel-safe).
    std::size_t read_line(std::string& line, std::size_t max_length,
                          std::source_location where = std::source_location::current());

    /// Writes all of `buf`.
    /// **Cancellation**: a cancellation point; not cancel-safe: an abort may leave a prefix
    /// of `buf` written (how much is not reported).
    void write_all(boost::asio::const_buffer buf,
                   std::source_location where = std::source_location::current());

    /// Shuts the sending direction down: the peer reads end of stream; reading still works.
    void shutdown_write();
    /// Sets TCP_NODELAY (disables Nagle's algorithm when true).
    void set_nodelay(bool on);
    /// The remote address.
    [[nodiscard]] boost::asio::ip::tcp::endpoint peer_addr() const;
    /// The local address.
    [[nodiscard]] boost::asio::ip::tcp::endpoint local_addr() const;
    /// The underlying Asio socket, e.g. for options or asio::async_* with weft::use_fiber.
    /// Bytes buffered by read_line are not visible through it. On the io_uring backend a
    /// read or write of this stream in progress in another task is not ended by
    /// socket().cancel() or close() (the kernel's operation holds the socket): abort that
    /// task, or bound the call with weft::timeout, as on either backend. The first call puts
    /// a socket that left the reactor (see above) back in it; system_error if the reactor
    /// refuses it (epoll_ctl's error).
    boost::asio::ip::tcp::socket& socket();

    /// Splits the stream into a read half and a write half that two tasks may use at the same
    /// time. Any bytes buffered by read_line move to the read half.
    std::pair<tcp_read_half, tcp_write_half> split() &&;

   private:
    friend class tcp_write_half;

    // Where socket_ stands with its io_context's reactor (tcp_stream.cpp says why and how the
    // two halves' tasks move it).
    enum class registration : std::uint8_t { fresh, left, committed, moving };

    std::size_t read_buffered(boost::asio::mutable_buffer buf) noexcept;
    std::size_t fill_buffer(std::source_location where);
    std::size_t receive_some(boost::asio::mutable_buffer buf, boost::system::error_code& ec,
                             const char* what, std::source_location where);
    int ring_fd() noexcept;
    void use_reactor(const char* what);
    int current_fd() const noexcept;
    void shutdown_send(boost::system::error_code& ec) noexcept;
    void close_left() noexcept;

    boost::asio::ip::tcp::socket socket_;
    int fd_ = -1;  // socket_'s descriptor as adopted; stays open while socket_ left the reactor
    std::atomic<registration> registration_{registration::fresh};
    std::string rbuf_;  // bytes read ahead by read_line: [rpos_, rbuf_.size())
    std::size_t rpos_ = 0;
    std::uint32_t wait_streak_ = 0;  // reads in a row that had to wait (see tcp_stream.cpp)
};

}  // namespace weft::net
