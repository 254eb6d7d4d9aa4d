// uring_ring: one worker's io_uring ring for file I/O (weft::fs's io_uring backend).
//
// Invariants:
//   - The ring belongs to one worker and is touched only on that worker's thread: tasks submit
//     while they run there, and completions are reaped there, right after a submission or by
//     the handler of the ring's eventfd, which waits in the worker's own io_context shard
//     (only that worker runs its shard). So the ring, its slot table and its counters need no
//     lock.
//   - A submitted operation occupies a slot until its completion is reaped. Its user_data is
//     the slot index and the slot's generation, so a cancel request that arrives after the
//     operation completed (and the slot was reused) matches nothing, in the kernel and here.
//   - The reaper hands each result to its waiting operation in this order: it takes the
//     operation's waker, stores the result, publishes `done` (release), then wakes. The
//     operation lives on the waiting task's stack and may be gone as soon as `done` is seen,
//     so nothing touches it after the store.
//   - A waiting task never leaves before its operation is done, abort or not: the kernel may
//     be writing into the task's buffer until the completion is posted.
#pragma once

#include <weft/detail/waker.hpp>
#include <weft/fs/io_backend.hpp>

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace weft::detail {

struct file_call;

/// One submitted operation, on the stack of the task that waits for it.
struct uring_op {
    waker w;                        // taken by the reaper, which wakes it
    std::int64_t result = 0;        // the completion's res, valid once done
    std::atomic<bool> done{false};  // release by the reaper, acquire by the waiting task
    std::uint64_t user_data = 0;    // set by submit
};

class uring_ring {
   public:
    /// Sets a ring up for the worker whose shard is `io`; null with `error` set when the build
    /// has no io_uring or the kernel refuses (errno text of io_uring_queue_init).
    static std::unique_ptr<uring_ring> create(boost::asio::io_context& io, std::string& error);
    ~uring_ring();
    uring_ring(const uring_ring&) = delete;
    uring_ring& operator=(const uring_ring&) = delete;

    /// Submits `c` for `op` (owner thread only); op.w must be set. Returns 0, or -errno when
    /// the operation could not be submitted (it then never completes). Completions already
    /// posted, this one's included if the kernel finished it inline, are reaped before
    /// returning.
    int submit(const file_call& c, uring_op& op);

    /// Asks the kernel to cancel the operation with `user_data`, if it is still in flight
    /// (owner thread only). Its completion still arrives, with -ECANCELED or its result.
    void cancel(std::uint64_t user_data);

    /// Operations submitted and not yet reaped (tests, dump).
    [[nodiscard]] std::size_t in_flight() const noexcept;

    /// The shard this ring reports to; a task elsewhere posts its cancel request here.
    boost::asio::io_context& io() noexcept;

   private:
    struct impl;
    explicit uring_ring(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

/// The ring for a worker's tasks under the runtime's `configured` backend: null for
/// thread_pool, and null when no ring can be had (no io_uring in this build, or the kernel
/// refuses one), which is said once per process on stderr unless `configured` is automatic
/// and the build has no io_uring (nothing was asked for then).
std::unique_ptr<uring_ring> open_worker_ring(boost::asio::io_context& io,
                                             fs::io_backend configured);

}  // namespace weft::detail
