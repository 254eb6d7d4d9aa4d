// file_call: one file system call, described as data so that either backend can perform it:
// a worker's io_uring ring (uring_ring.hpp), the blocking pool, or the calling thread itself.
// weft::fs builds on perform() alone, so every fs operation behaves the same on both backends
// and the choice between them is made in one place.
#pragma once

#include <weft/fs/io_backend.hpp>

#include <cstddef>
#include <cstdint>
#include <source_location>

namespace weft::detail {

struct file_call {
    enum class op : std::uint8_t {
        open,       // openat(AT_FDCWD, path, flags, mode) -> descriptor
        read,       // pread(fd, buf, len, offset), or read() at the descriptor's position
        write,      // pwrite / write, as read
        sync_all,   // fsync(fd)
        sync_data,  // fdatasync(fd)
    };
    /// `offset` for read and write that use (and advance) the descriptor's own position.
    static constexpr std::uint64_t at_position = ~std::uint64_t{0};

    op what = op::read;
    int fd = -1;
    void* buf = nullptr;  // read: destination; write: source (never written)
    std::size_t len = 0;
    std::uint64_t offset = at_position;
    const char* path = nullptr;  // open
    int flags = 0;               // open
    unsigned mode = 0;           // open
};

class uring_ring;

/// The ring the calling task's file calls go to on its worker, or null (not in a task, the
/// thread_pool backend, or no ring). In a task, also the call's cancellation point and
/// cooperative budget (perform() and fs::read start with it).
uring_ring* task_file_ring(std::source_location where);

/// Performs `c` the way the calling context does file I/O and returns the call's result: >= 0
/// on success (bytes, or a descriptor for open), -errno on failure.
///   - a task: on its worker's io_uring ring when the runtime's backend is io_uring and the
///     ring could be set up, else on the runtime's blocking pool; the task waits, the worker
///     runs other tasks;
///   - a thread that may block (a plain thread, the blocking pool): inline;
///   - an Asio handler on a worker: std::logic_error ("would block a worker").
/// Cancellation: a cancellation point before the call starts. An abort while it runs cancels
/// it where the kernel can (io_uring's async cancel; a regular file's read or write usually
/// finishes first) and waits until the call has ended, since it may be writing into the
/// caller's buffer; then task_cancelled is thrown and the result is dropped (a descriptor
/// that an abandoned open returned is closed). `what` names the operation for dump().
std::int64_t perform(const file_call& c, const char* what, std::source_location where);

/// Performs `c` on the calling thread, blocking it.
std::int64_t perform_inline(const file_call& c) noexcept;

/// The backend a task's file calls use on the calling worker (sets the ring up if this
/// worker has not tried yet). std::logic_error outside a task.
fs::io_backend task_backend();

}  // namespace weft::detail
