// tcp_read_half / tcp_write_half: the two directions of a tcp_stream after split(), owned by
// two tasks that read and write at the same time (Tokio's OwnedReadHalf / OwnedWriteHalf).
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <memory>
#include <source_location>
#include <string>

namespace weft::net {

class tcp_stream;

/// The reading direction of a split tcp_stream. Movable; shares the socket with its
/// tcp_write_half (the socket closes when both are gone). Use it from one task at a time;
/// the write half may be used by another task concurrently. Calls as tcp_stream's.
class tcp_read_half {
   public:
    /// Takes over `o`'s share of the stream.
    tcp_read_half(tcp_read_half&&) noexcept = default;
    /// Move assignment (as the move constructor).
    tcp_read_half& operator=(tcp_read_half&&) noexcept = default;
    ~tcp_read_half();

    /// See tcp_stream::read_some. **Cancellation**: as there (cancel-safe).
    std::size_t read_some(boost::asio::mutable_buffer buf,
                          std::source_location where = std::source_location::current());
    /// See tcp_stream::read_exact. **Cancellation**: as there (not cancel-safe).
    void read_exact(boost::asio::mutable_buffer buf,
                    std::source_location where = std::source_location::current());
    /// See tcp_stream::read_line. **Cancellation**: as there (cancel-safe).
    std::size_t read_line(std::string& line,
                          std::source_location where = std::source_location::current());
    /// See tcp_stream::read_line with a length limit. **Cancellation**: as there (cancel-safe).
    std::size_t read_line(std::string& line, std::size_t max_length,
                          std::source_location where = std::source_location::current());
    /// The remote address of the stream.
    [[nodiscard]] boost::asio::ip::tcp::endpoint peer_addr() const;
    /// The local address of the stream.
    [[nodiscard]] boost::asio::ip::tcp::endpoint local_addr() const;

   private:
    friend class tcp_stream;
    explicit tcp_read_half(std::shared_ptr<tcp_stream> s) noexcept;
    std::shared_ptr<tcp_stream> s_;
};

/// The writing direction of a split tcp_stream. Destroying it shuts the sending direction
/// down (the peer reads end of stream), as Tokio's OwnedWriteHalf does.
class tcp_write_half {
   public:
    /// Takes over `o`'s share of the stream.
    tcp_write_half(tcp_write_half&&) noexcept = default;
    /// Move assignment: releases this half's share of its stream first.
    tcp_write_half& operator=(tcp_write_half&& o) noexcept;
    ~tcp_write_half();

    /// See tcp_stream::write_all. **Cancellation**: as there (not cancel-safe).
    void write_all(boost::asio::const_buffer buf,
                   std::source_location where = std::source_location::current());
    /// See tcp_stream::shutdown_write.
    void shutdown_write();
    /// The remote address of the stream.
    [[nodiscard]] boost::asio::ip::tcp::endpoint peer_addr() const;
    /// The local address of the stream.
    [[nodiscard]] boost::asio::ip::tcp::endpoint local_addr() const;

   private:
    friend class tcp_stream;
    explicit tcp_write_half(std::shared_ptr<tcp_stream> s) noexcept;
    void release() noexcept;
    std::shared_ptr<tcp_stream> s_;
};

}  // namespace weft::net
