// file: an open file whose reads, writes and syncs suspend only the calling task (Tokio's
// tokio::fs::File), on a worker's io_uring ring or on the blocking pool.
#pragma once

#include <weft/fs/io_backend.hpp>
#include <weft/fs/open_options.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <source_location>

namespace weft::fs {

/// An open file. Movable, not copyable; the destructor closes it.
///
///     auto f = weft::fs::file::open("data.bin");
///     std::array<char, 4096> page;
///     f.read_exact_at(8192, boost::asio::buffer(page));
///
/// **Where calls run.** In a task, on the runtime's file backend (builder::file_io): with
/// io_uring the worker submits the call to its own ring and runs other tasks until the kernel
/// completes it, with no thread hand-off; with thread_pool the call runs on the blocking pool
/// (as tokio::fs does). On a plain thread or the blocking pool the call runs on the calling
/// thread, which blocks. From an Asio handler on a worker: std::logic_error.
///
/// **Concurrency.** The positional calls (`*_at`) may be made from several tasks at once; the
/// others use the file's position and are made from one task at a time.
///
/// **Errors.** std::filesystem::filesystem_error naming the path and the errno (e.g.
/// no_such_file_or_directory, permission_denied, is_a_directory from a read of a
/// directory). read_exact and read_exact_at throw boost::system::system_error with
/// asio::error::eof, as tcp_stream::read_exact does, when the file ends first.
///
/// **Cancellation.** Every call is a cancellation point before it starts. An abort while a
/// call runs: on io_uring the kernel is asked to cancel it (a read of a pipe or FIFO then
/// ends at once; a regular file's read or write usually completes first); on thread_pool it
/// runs to its end. Either way the task waits until the call has ended, since it may be
/// writing into the caller's buffer. A call that completed returns its result, and the next
/// cancellation point throws task_cancelled; so read_some and read_some_at are cancel-safe
/// (nothing read is lost). A cancelled call throws task_cancelled and had no effect.
/// read_exact*, write_all* loop over calls and are not cancel-safe: a prefix may have been
/// transferred when the abort lands.
class file {
   public:
    /// Opens `path` for reading (open_options().read(true)). Errors: filesystem_error naming
    /// the path. Cancellation: as above; an open that an abort cancelled opened nothing.
    static file open(const std::filesystem::path& path,
                     std::source_location where = std::source_location::current());
    /// Opens `path` for writing, creating it or truncating it
    /// (open_options().write(true).create(true).truncate(true)).
    /// **Cancellation**: as open().
    static file create(const std::filesystem::path& path,
                       std::source_location where = std::source_location::current());

    /// Takes over `o`'s descriptor; `o` is then closed.
    file(file&& o) noexcept;
    /// Closes this file, then takes over `o`'s descriptor.
    file& operator=(file&& o) noexcept;
    /// Closes the file (an error of close is ignored: call close() to see it).
    ~file();
    file(const file&) = delete;
    file& operator=(const file&) = delete;

    /// Reads up to buf.size() bytes at the file's position, advances it, and returns the
    /// count; 0 at end of file (or for an empty buffer).
    /// **Cancellation**: a cancellation point, and cancel-safe: bytes read when an abort lands
    /// are returned (the next cancellation point throws); a cancelled read read nothing.
    std::size_t read_some(boost::asio::mutable_buffer buf,
                          std::source_location where = std::source_location::current());
    /// Fills `buf` from the file's position; eof error if the file ends first.
    /// **Cancellation**: a cancellation point; not cancel-safe: a prefix may have been read
    /// (and the position moved past it) when the abort lands.
    void read_exact(boost::asio::mutable_buffer buf,
                    std::source_location where = std::source_location::current());
    /// Reads up to buf.size() bytes at `offset` (the file's position is not used or moved);
    /// 0 at or past the end of the file.
    /// **Cancellation**: a cancellation point, and cancel-safe (nothing is consumed).
    std::size_t read_some_at(std::uint64_t offset, boost::asio::mutable_buffer buf,
                             std::source_location where = std::source_location::current());
    /// Fills `buf` from `offset`; eof error if the file ends first.
    /// **Cancellation**: a cancellation point; an abort leaves `buf` partly filled.
    void read_exact_at(std::uint64_t offset, boost::asio::mutable_buffer buf,
                       std::source_location where = std::source_location::current());

    /// Writes up to buf.size() bytes at the file's position (at the end if opened with
    /// append), advances it, and returns the count.
    /// **Cancellation**: a cancellation point; a write that completed as the abort landed
    /// returns its count (the next cancellation point throws).
    std::size_t write_some(boost::asio::const_buffer buf,
                           std::source_location where = std::source_location::current());
    /// Writes all of `buf` at the file's position.
    /// **Cancellation**: a cancellation point; not cancel-safe: a prefix of `buf` may have
    /// been written when the abort lands.
    void write_all(boost::asio::const_buffer buf,
                   std::source_location where = std::source_location::current());
    /// Writes up to buf.size() bytes at `offset` and returns the count.
    /// **Cancellation**: as write_some.
    std::size_t write_some_at(std::uint64_t offset, boost::asio::const_buffer buf,
                              std::source_location where = std::source_location::current());
    /// Writes all of `buf` at `offset`.
    /// **Cancellation**: as write_all.
    void write_all_at(std::uint64_t offset, boost::asio::const_buffer buf,
                      std::source_location where = std::source_location::current());

    /// Flushes data and metadata to the device (fsync).
    /// **Cancellation**: a cancellation point; an abort waits for the flush to end.
    void sync_all(std::source_location where = std::source_location::current());
    /// Flushes data, and the metadata needed to read it back (fdatasync).
    /// **Cancellation**: as sync_all.
    void sync_data(std::source_location where = std::source_location::current());

    /// The file's size in bytes (fstat; does not suspend).
    [[nodiscard]] std::uint64_t size() const;
    /// Truncates or extends the file to `bytes` (ftruncate; does not suspend).
    void set_len(std::uint64_t bytes);
    /// Moves the file's position to `offset` from the start and returns it.
    std::uint64_t seek(std::uint64_t offset);
    /// The file's position.
    [[nodiscard]] std::uint64_t position() const;

    /// Closes the file now, reporting an error of close(2) (filesystem_error). Closing twice,
    /// or a moved-from file, does nothing.
    void close();
    /// Whether the file is open (false once closed or moved from).
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
    /// The descriptor, or -1; weft still owns it.
    [[nodiscard]] int native_handle() const noexcept { return fd_; }
    /// The path the file was opened with.
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

   private:
    friend class open_options;
    file(int fd, std::filesystem::path path) noexcept;
    int checked_fd(const char* what) const;

    int fd_ = -1;
    std::filesystem::path path_;
};

}  // namespace weft::fs
