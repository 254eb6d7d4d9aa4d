// uring_ring: one worker's io_uring ring, for its tasks' file calls (weft::fs's io_uring
// backend) and tcp_stream transfers (weft::net's io_uring backend).
//
// Invariants:
//   - The ring belongs to one worker and is touched only on that worker's thread: tasks queue
//     while they run there, and completions are reaped there, right after a submission or by
//     the handler of the ring's eventfd, which waits in the worker's own io_context shard
//     (only that worker runs its shard). So the ring, its slot table and its counters need no
//     lock.
//   - A queued operation occupies a slot until its completion is reaped. Its user_data is
//     the slot index and the slot's generation, so a cancel request that arrives after the
//     operation completed (and the slot was reused) matches nothing, in the kernel and here.
//   - The reaper hands each result to its waiting operation in this order: it takes the
//     operation's waker, stores the result, publishes `done` (release), then wakes. The
//     operation lives on the waiting task's stack and may be gone as soon as `done` is seen,
//     so nothing touches it after the store.
//   - A waiting task never leaves before its operation is done, abort or not: the kernel may
//     be writing into the task's buffer until the completion is posted.
//   - Every operation is only queued (queue, queue_chain, queue_socket) and goes to the kernel
//     with the next flush(), which the owner calls whenever it runs out of tasks, before it
//     parks and before each wait of its park (a handler that the last wait ran may have
//     queued: a step or a close posted by a task that moved to another worker), and in its
//     maintenance pass (at least every 61 tasks), or when the submission queue is full (a
//     cancel request goes at once, with what was queued before it). So a
//     queued entry waits at most for the tasks ahead of it, as a ready socket waits for the
//     next poll, and the calls of all the tasks that ran meanwhile cost one system call (for
//     cold file reads also one block-device plug: one doorbell to the disk for all their
//     reads, where a read submitted alone rang it alone).
//   - What the kernel reads from user memory at submission (a path, an open_how) must outlive
//     the entry until then: paths live in the waiting task's frame; an open_how lives in the
//     ring, beside the submission entry that points to it, which is not reused before the
//     kernel took it.
//   - With cooperative task running (IORING_SETUP_COOP_TASKRUN, Linux 5.19+) the kernel
//     posts completions only when the owner enters the kernel, and raises IORING_SQ_TASKRUN
//     meanwhile; flush() enters for them when that flag is up. A parked owner still wakes:
//     the kernel marks its thread and ends its epoll_wait, and the completion writes the
//     eventfd.
#pragma once

#include <weft/detail/waker.hpp>
#include <weft/fs/io_backend.hpp>
#include <weft/net/io_backend.hpp>

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <source_location>
#include <span>
#include <string>

namespace weft::detail {

struct file_call;

/// One queued operation, on the stack of the task that waits for it.
struct uring_op {
    waker w;                        // taken by the reaper, which wakes it
    std::int64_t result = 0;        // the completion's res (a restart code as -EINTR), once done
    std::atomic<bool> done{false};  // release by the reaper, acquire by the waiting task
    std::uint64_t user_data = 0;    // set when queued
};

/// One step of a linked submission (uring_ring::queue_chain).
struct chain_step {
    enum class op : std::uint8_t {
        open_direct,  // openat(AT_FDCWD, path, O_RDONLY) into direct slot `slot`; only
                      // from the dentry cache (RESOLVE_CACHED: -EAGAIN otherwise)
        read_fixed,   // pread from the descriptor in direct slot `slot`
    };
    op what = op::read_fixed;
    unsigned slot = 0;
    const char* path = nullptr;  // open_direct
    void* buf = nullptr;         // read_fixed
    std::size_t len = 0;         // read_fixed
    std::uint64_t offset = 0;    // read_fixed
    uring_op* result = nullptr;  // receives the step's completion; its waker may be empty
};

class uring_ring {
   public:
    /// Sets a ring up for the worker whose shard is `io`; null with `error` set when the build
    /// has no io_uring or the kernel refuses (errno text of io_uring_queue_init).
    static std::unique_ptr<uring_ring> create(boost::asio::io_context& io, std::string& error);
    ~uring_ring();
    uring_ring(const uring_ring&) = delete;
    uring_ring& operator=(const uring_ring&) = delete;

    /// Queues `c` for `op` (owner thread only; see the invariants for when it goes to the
    /// kernel); op.w must be set, and `c`'s path and buffer must live until op is done.
    /// `blocking`: straight to the kernel's worker threads, which block as the plain system
    /// call would (IOSQE_ASYNC), without the non-blocking first try. Returns 0, or -errno when
    /// the operation could not be queued (it then never completes).
    int queue(const file_call& c, uring_op& op, bool blocking = false);

    /// A socket transfer, queued without a system call: flush() submits it with every other
    /// entry queued since (owner thread only). Returns 0 or -errno as queue.
    int queue_socket(bool send, int fd, void* buf, std::size_t len, uring_op& op);
    /// Submits the queued entries, if any, and reaps what completed; returns how many
    /// operations completed (owner thread only).
    std::size_t flush();

    /// Whether the kernel runs this ring's completions cooperatively (no interrupt of the
    /// running worker per completion; net::io_backend::automatic puts sockets on the ring only
    /// then: without it a lone connection's round trip took 1.4x as long as on the reactor).
    [[nodiscard]] bool cooperative() const noexcept;

    /// Direct descriptors: a table registered with the ring (Linux 5.19+) whose slots hold
    /// descriptors that only this ring's operations see, so an open can be linked to the read
    /// that uses it, in one submission. Returns a free slot, or -1 when none is
    /// free or the kernel refused the table (owner thread only).
    int take_direct_slot() noexcept;
    /// Gives back a slot that never held a descriptor (nothing was queued for it).
    void give_back_direct_slot(unsigned slot);
    /// Queues the close of the descriptor in `slot` (or of none: a failed open's) and frees the
    /// slot when it completes; nobody waits for it (owner thread only). The close goes to the
    /// kernel with the next submission or flush.
    void close_direct_detached(unsigned slot);
    /// Asks the kernel to cancel every operation on the descriptor in direct slot `slot`
    /// (owner thread only).
    void cancel_direct(unsigned slot);
    /// fs::read's linked open finds its path in the dentry cache, or fails at once (-EAGAIN)
    /// and the read goes step by step. The reaper records each linked open's outcome: after a
    /// miss the next few reads go step by step without trying, and then one read tries again
    /// while the others wait for its verdict (a cold cache stays cold for a while, and each
    /// try costs the task a round trip; with queued submission every task that ran before the
    /// verdict would otherwise try). Owner thread only.
    [[nodiscard]] bool linked_open_worth_trying() noexcept;
    /// Free direct slots (tests: every read gives its slot back).
    [[nodiscard]] std::size_t direct_slots_free() const noexcept;
    /// Queues one or two steps (an open and the read from it) linked in order, each one running
    /// whatever the one before it returned (a step that cannot run completes with -ECANCELED or
    /// -EBADF). Returns 0, or -errno when nothing was queued (owner thread only). A step has
    /// completed once its result->done is set.
    int queue_chain(std::span<const chain_step> steps);

    /// Asks the kernel to cancel the operation with `user_data`, if it is still in flight
    /// (owner thread only). Its completion still arrives, with -ECANCELED or its result.
    void cancel(std::uint64_t user_data);

    /// Operations queued and not yet reaped (tests, dump).
    [[nodiscard]] std::size_t in_flight() const noexcept;
    /// Whether entries are queued that the kernel has not taken: after a flush, only when it
    /// refused the submission (EAGAIN, EBUSY); the owner then tries again soon instead of
    /// parking for good (owner thread only).
    [[nodiscard]] bool has_unsubmitted() const noexcept;
    /// Tests: how many times the ring handed queued entries to the kernel, and how many linked
    /// opens it submitted and saw miss the dentry cache.
    struct counters {
        std::uint64_t submissions = 0;
        std::uint64_t linked_opens = 0;
        std::uint64_t linked_misses = 0;
    };
    [[nodiscard]] counters stats() const noexcept;

    /// The shard this ring reports to; a task elsewhere posts its cancel request here.
    boost::asio::io_context& io() noexcept;

   private:
    struct impl;
    explicit uring_ring(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

/// Waits (parks) until `op` is done, asking `ring`'s owner to cancel it (and the operation with
/// `also_cancel`, if not 0: an earlier step of the same chain) if the task is aborted
/// meanwhile; returns only once the completion was reaped.
void wait_for_op(uring_ring& ring, uring_op& op, const char* what, std::source_location where,
                 std::uint64_t also_cancel = 0);

/// Whether the calling thread is `ring`'s owner (a task that waited may have been resumed by
/// another worker; only the owner touches the ring).
bool on_owner_of(const uring_ring& ring) noexcept;

/// Queues the single step `st` (a read of a direct slot) on `ring` and waits for it, from any
/// worker: a task resumed elsewhere since its chain began has a handler posted to the owner's
/// shard queue it. An abort cancels what runs on the slot (IORING_ASYNC_CANCEL_FD_FIXED,
/// also from the owner) and the call returns once the step completed. Returns its result, or
/// -errno when it could not be queued.
std::int64_t run_step_on_owner(uring_ring& ring, chain_step& st, const char* what,
                               std::source_location where);

/// close_direct_detached(slot) on `ring` from any worker: directly on the owner, else through
/// a handler posted to the owner's shard.
void close_direct_from_anywhere(uring_ring& ring, unsigned slot);

/// The ring for a worker's tasks under the runtime's backends: null when neither files nor
/// sockets may use one (thread_pool and reactor), and null when no ring can be had (no
/// io_uring in this build, or the kernel refuses one), which is said once per process on
/// stderr unless both are automatic and the build has no io_uring (nothing was asked for).
std::unique_ptr<uring_ring> open_worker_ring(boost::asio::io_context& io, fs::io_backend files,
                                             net::io_backend sockets);

}  // namespace weft::detail
