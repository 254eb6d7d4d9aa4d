// file: an open file whose reads, writes and syncs suspend only the calling task (Tokio's
// tokio::fs::File), on a worker's io_uring ring or on the blocking pool.
#pragma once

#include <weft/asio/executor.hpp>
#include <weft/fs/io_backend.hpp>
#include <weft/fs/open_options.hpp>
#include <weft/task/abort_handle.hpp>
#include <weft/task/spawn.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <source_location>
#include <type_traits>
#include <utility>

namespace weft::fs {

namespace detail {
/// One positional read (`write` false) or write of an Asio operation of file, performed by
/// the task that the operation spawned: (error, bytes); operation_aborted when the task was
/// aborted (the operation's cancellation slot) before the kernel did anything.
std::pair<boost::system::error_code, std::size_t> transfer_for_asio(int fd, bool write,
                                                                    std::uint64_t offset,
                                                                    void* data, std::size_t len);

struct initiate_file_transfer {
    template <class Handler>
    void operator()(Handler&& handler, int fd, bool write, std::uint64_t offset, void* data,
                    std::size_t len) const {
        using handler_t = std::decay_t<Handler>;
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        // The handler runs on its own executor, or on the shard of the worker that started
        // the operation (as an Asio I/O object's handler runs on the object's executor).
        auto work = boost::asio::prefer(
            boost::asio::get_associated_executor(handler, weft::current_io_executor()),
            boost::asio::execution::outstanding_work.tracked);
        auto job = weft::spawn([h = handler_t(std::forward<Handler>(handler)),
                                work = std::move(work), fd, write, offset, data, len]() mutable {
            auto [ec, n] = transfer_for_asio(fd, write, offset, data, len);
            // Posted, never run inside this task: a handler is not a task.
            boost::asio::post(work, [h = std::move(h), ec = ec, n = n]() mutable {
                boost::asio::get_associated_cancellation_slot(h).clear();
                std::move(h)(ec, n);
            });
        });
        // The slot aborts the task; the task still waits for the kernel (the buffer is the
        // caller's until the handler runs), then completes with operation_aborted if the
        // call was cancelled, or with its result if it had completed.
        if (slot.is_connected()) {
            slot.assign(
                [a = job.get_abort_handle()](boost::asio::cancellation_type) { a.abort(); });
        }
    }
};
}  // namespace detail

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
/// call runs: on io_uring the kernel is asked to cancel it (a read of a pipe or FIFO, or an
/// open waiting for a FIFO's other end, then ends at once; a regular file's read or write
/// usually completes first); on thread_pool it runs to its end. Either way the task waits
/// until the call has ended, since it may be writing into the caller's buffer. A call that
/// completed returns its result, and the next cancellation point throws task_cancelled; so
/// read_some and read_some_at are cancel-safe (nothing read is lost). A cancelled call throws
/// task_cancelled and had no effect. read_exact*, write_all* loop over calls and are not
/// cancel-safe: a prefix may have been transferred when the abort lands.
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
    /// are returned (the next cancellation point throws); a cancelled read read nothing. In a
    /// weft::select branch it reads only once the branch has won, so a losing branch moves
    /// the position past nothing. A pipe, FIFO or terminal is waited on for data first
    /// without holding the race (a sibling can still win while nothing comes); a regular file
    /// is read at once, holding the race through the read.
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

    /// Asio form of read_some_at, for callback code, strands and coroutines (any completion
    /// token: a callback, asio::use_awaitable, use_future, weft::use_fiber): completes with
    /// void(boost::system::error_code, std::size_t). Starts from a task or an Asio handler on
    /// a worker (weft::no_runtime elsewhere); the call runs in a task of its own on the
    /// runtime's file backend. The handler runs on its associated executor, or on the shard
    /// of the starting worker; never inside this call. `buf` must stay valid until then.
    /// **Cancellation**: through the handler's cancellation slot: the call is cancelled where
    /// the kernel can (io_uring), and the handler gets operation_aborted with 0 bytes, or the
    /// call's result if it completed first.
    template <class Token>
    auto async_read_some_at(std::uint64_t offset, boost::asio::mutable_buffer buf, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            detail::initiate_file_transfer{}, token,
            checked_fd("weft::fs::file::async_read_some_at"), false, offset, buf.data(),
            buf.size());
    }
    /// Asio form of write_some_at: as async_read_some_at. `buf` must stay valid until the
    /// handler runs.
    /// **Cancellation**: as async_read_some_at.
    template <class Token>
    auto async_write_some_at(std::uint64_t offset, boost::asio::const_buffer buf, Token&& token) {
        // safety: the write only reads from the buffer; one pointer type serves both ways.
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            detail::initiate_file_transfer{}, token,
            checked_fd("weft::fs::file::async_write_some_at"), true, offset,
            const_cast<void*>(buf.data()), buf.size());
    }

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
