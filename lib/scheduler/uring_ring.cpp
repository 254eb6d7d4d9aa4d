// uring_ring: see uring_ring.hpp for the invariants. Built on liburing when the meson option
// io_uring found it (WEFT_HAS_IO_URING); otherwise create() reports that the build has none
// and every file call goes to the blocking pool.
#include "uring_ring.hpp"

#include "../fs/file_call.hpp"

#include "thread_context.hpp"
#include "worker.hpp"

#include <weft/detail/assert.hpp>
#include <weft/detail/fault_injection.hpp>
#include <weft/detail/park.hpp>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#if WEFT_HAS_IO_URING
#include <boost/asio/posix/stream_descriptor.hpp>

#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>
#endif

namespace weft::detail {

#if WEFT_HAS_IO_URING

namespace {
// Submission entries: one is in use at a time (each operation is submitted at once), the rest
// is headroom. Completion entries: every task may have one operation in flight, and a burst
// of completions waits here until the owner reaps; past this the kernel keeps the overflow
// itself (IORING_FEAT_NODROP), so nothing is lost, only slower.
constexpr unsigned sq_entries = 64;
constexpr unsigned cq_entries = 4096;
// The kernel transfers at most this much per read or write call; a larger request is a short
// read or write, which the callers loop over.
constexpr std::size_t max_transfer = 0x7ffff000;
// A transfer at least this big skips the inline attempt and goes straight to the kernel's
// worker threads (IOSQE_ASYNC). Inline, the submitting worker itself copies the data, or
// waits in the kernel while a cold file's blocks are mapped and read: a task reading a cold
// 1 GiB file in 1 MiB requests held its worker for over 100 ms between yields. Small reads
// keep the inline path, where a cached page costs no thread hop at all.
constexpr std::size_t async_transfer = 64 * 1024;
// The kernel's bounded worker threads per ring (file reads and writes that could not
// complete inline): by default 4 per CPU, which left cold reads of many small files
// waiting for a worker while the device had room for more in flight.
constexpr unsigned bounded_workers = 64;

constexpr std::uint64_t make_user_data(std::uint32_t index, std::uint32_t gen) {
    return (std::uint64_t{gen} << 32) | (std::uint64_t{index} + 1);  // 0 is never an operation
}
}  // namespace

struct uring_ring::impl {
    struct slot {
        uring_op* op = nullptr;
        std::uint32_t gen = 0;
    };

    boost::asio::io_context& io;
    io_uring ring{};
    boost::asio::posix::stream_descriptor event;  // owns the eventfd registered with the ring
    std::vector<slot> slots;
    std::vector<std::uint32_t> free_slots;
    std::size_t in_flight = 0;
    std::size_t queued = 0;     // socket entries queued and not yet taken by the kernel
    std::size_t completed = 0;  // operations reaped (flush reports the difference)
    bool cooperative = false;   // IORING_SETUP_COOP_TASKRUN granted
    bool ring_ready = false;    // io_uring_queue_init succeeded

    impl(boost::asio::io_context& io_, int efd)
        : io(io_),
          event(io_, efd) {}

    ~impl() {
        // Operations still in flight belong to tasks that a timed-out shutdown leaked: their
        // stacks stay mapped for good, so the kernel may finish writing into them after the
        // ring is gone (io_uring_queue_exit cancels what it can and waits for the rest in the
        // background).
        if (ring_ready) io_uring_queue_exit(&ring);
    }

    // The eventfd is written for every completion the kernel posts. Its handler runs in the
    // owner's shard, on the owner's thread: the reaper's home when no task submits.
    void arm() {
        event.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this](const boost::system::error_code& ec) {
                             // An error is the descriptor closing with the ring: `this` is
                             // gone, so look at nothing.
                             if (ec) return;
                             std::uint64_t count = 0;
                             // Clears the counter so that the next completion is a new edge; a
                             // failed read (EAGAIN: a submitter reaped first) changes nothing.
                             [[maybe_unused]] ssize_t n =
                                 ::read(event.native_handle(), &count, sizeof count);
                             reap();
                             arm();
                         });
    }

    void reap() {
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            complete(cqe->user_data, cqe->res);
        }
        io_uring_cq_advance(&ring, seen);
    }

    void complete(std::uint64_t user_data, std::int32_t res) {
        if (user_data == 0) return;  // a cancel request's own completion
        auto index = static_cast<std::uint32_t>((user_data & 0xffffffffU) - 1);
        WEFT_ASSERT(index < slots.size() && slots[index].op != nullptr &&
                        slots[index].gen == static_cast<std::uint32_t>(user_data >> 32),
                    "uring_ring: a completion for no operation in flight");
        uring_op* op = std::exchange(slots[index].op, nullptr);
        ++slots[index].gen;
        free_slots.push_back(index);
        --in_flight;
        ++completed;
        // safety: the waker is taken and the result stored before `done` is published; the
        // operation's task may return (and its stack frame die) as soon as it sees `done`.
        waker w = std::move(op->w);
        op->result = res;
        op->done.store(true, std::memory_order_release);  // pairs with wait_for's acquire
        // A task that reaps its own completion right after submitting is running: waking it
        // would only make its next park return at once for nothing.
        if (w.task() != nullptr && w.task() == current_task()) {
            w.reset();
        } else {
            w.wake();
        }
    }

    std::uint32_t take_slot(uring_op& op) {
        std::uint32_t index = 0;
        if (free_slots.empty()) {
            index = static_cast<std::uint32_t>(slots.size());
            slots.emplace_back();
        } else {
            index = free_slots.back();
            free_slots.pop_back();
        }
        slots[index].op = &op;
        ++in_flight;
        return index;
    }

    void give_back_slot(std::uint32_t index) {
        slots[index].op = nullptr;
        ++slots[index].gen;
        free_slots.push_back(index);
        --in_flight;
    }
};

std::unique_ptr<uring_ring> uring_ring::create(boost::asio::io_context& io, std::string& error) {
    if (fault::hit(fault::point::io_uring_setup)) {
        error = std::string("io_uring_queue_init: ") + std::strerror(EPERM) + " (injected)";
        return nullptr;
    }
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
        error = std::string("eventfd: ") + std::strerror(errno);
        return nullptr;
    }
    std::unique_ptr<impl> p;
    try {
        p = std::make_unique<impl>(io, efd);
    } catch (...) {
        ::close(efd);
        throw;
    }
    // Cooperative task running: a completion does not interrupt the running worker (an
    // inter-processor interrupt per completion, costly under virtualisation); the worker
    // collects it the next time it enters the kernel (see the header). Kernels before 5.19
    // refuse the flags with EINVAL: the ring then runs without them.
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_COOP_TASKRUN |
                   IORING_SETUP_TASKRUN_FLAG;
    params.cq_entries = cq_entries;
    int rc = io_uring_queue_init_params(sq_entries, &p->ring, &params);
    if (rc == -EINVAL) {
        params = io_uring_params{};
        params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        params.cq_entries = cq_entries;
        rc = io_uring_queue_init_params(sq_entries, &p->ring, &params);
    } else if (rc == 0) {
        p->cooperative = true;
    }
    if (rc < 0) {
        error = std::string("io_uring_queue_init: ") + std::strerror(-rc);
        return nullptr;  // the eventfd closes with impl's descriptor
    }
    p->ring_ready = true;
    // Best effort (kernel 5.15+): without it cold reads only queue deeper in the kernel.
    unsigned workers[2] = {bounded_workers, 0};  // 0: leave the unbounded limit alone
    (void)io_uring_register_iowq_max_workers(&p->ring, workers);
    if (rc = io_uring_register_eventfd(&p->ring, efd); rc < 0) {
        error = std::string("io_uring_register_eventfd: ") + std::strerror(-rc);
        return nullptr;  // impl's destructor tears the ring down
    }
    p->arm();
    return std::unique_ptr<uring_ring>(new uring_ring(std::move(p)));
}

int uring_ring::submit(const file_call& c, uring_op& op) {
    io_uring* ring = &impl_->ring;
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    if (sqe == nullptr) {
        // Full of queued socket entries, or of ones a failed submission left: send them.
        io_uring_submit(ring);
        impl_->queued = io_uring_sq_ready(ring);
        sqe = io_uring_get_sqe(ring);
        if (sqe == nullptr) return -EBUSY;
    }
    auto len = static_cast<unsigned>(std::min(c.len, max_transfer));
    switch (c.what) {
        case file_call::op::open:
            io_uring_prep_openat(sqe, AT_FDCWD, c.path, c.flags | O_CLOEXEC, c.mode);
            break;
        case file_call::op::read:
            // offset -1 reads at the file's position and advances it, as read(2) does
            io_uring_prep_read(sqe, c.fd, c.buf, len, c.offset);
            break;
        case file_call::op::write:
            io_uring_prep_write(sqe, c.fd, c.buf, len, c.offset);
            break;
        case file_call::op::sync_all:
            io_uring_prep_fsync(sqe, c.fd, 0);
            break;
        case file_call::op::sync_data:
            io_uring_prep_fsync(sqe, c.fd, IORING_FSYNC_DATASYNC);
            break;
    }
    if ((c.what == file_call::op::read || c.what == file_call::op::write) &&
        len >= async_transfer) {
        sqe->flags |= IOSQE_ASYNC;
    }
    std::uint32_t index = impl_->take_slot(op);
    op.user_data = make_user_data(index, impl_->slots[index].gen);
    io_uring_sqe_set_data64(sqe, op.user_data);
    int rc = 0;
    do {
        rc = io_uring_submit(ring);  // queued socket entries go with it
    } while (rc == -EINTR);
    impl_->queued = io_uring_sq_ready(ring);
    if (rc < 0) {
        // The kernel took nothing, so the entry is still ours: make it a no-op (it goes out
        // with the next submission) and forget the operation, which never started.
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, 0);
        impl_->give_back_slot(index);
        return rc;
    }
    impl_->reap();
    return 0;
}

void uring_ring::cancel(std::uint64_t user_data) {
    auto index = static_cast<std::uint32_t>((user_data & 0xffffffffU) - 1);
    if (index >= impl_->slots.size() || impl_->slots[index].op == nullptr ||
        impl_->slots[index].gen != static_cast<std::uint32_t>(user_data >> 32)) {
        return;  // completed already (the slot may hold a newer operation: leave it alone)
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&impl_->ring);
    if (sqe == nullptr) return;  // the operation completes anyway; cancelling only hurries it
    io_uring_prep_cancel64(sqe, user_data, 0);
    io_uring_sqe_set_data64(sqe, 0);
    io_uring_submit(&impl_->ring);
    impl_->reap();
}

std::size_t uring_ring::in_flight() const noexcept { return impl_->in_flight; }

int uring_ring::queue_socket(bool send, int fd, void* buf, std::size_t len, uring_op& op) {
    io_uring* ring = &impl_->ring;
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    if (sqe == nullptr) {
        flush();  // a full queue: sq_entries tasks queued transfers since the last flush
        sqe = io_uring_get_sqe(ring);
        if (sqe == nullptr) return -EBUSY;
    }
    auto n = static_cast<unsigned>(std::min(len, max_transfer));
    if (send) {
        io_uring_prep_send(sqe, fd, buf, n, MSG_NOSIGNAL);
    } else {
        io_uring_prep_recv(sqe, fd, buf, n, 0);
    }
    std::uint32_t index = impl_->take_slot(op);
    op.user_data = make_user_data(index, impl_->slots[index].gen);
    io_uring_sqe_set_data64(sqe, op.user_data);
    ++impl_->queued;
    return 0;
}

std::size_t uring_ring::flush() {
    io_uring* ring = &impl_->ring;
    const std::size_t before = impl_->completed;
    if (impl_->queued > 0) {
        // One system call for every transfer queued since the last flush; it also runs the
        // completions the kernel holds for us. An error (EBUSY while the kernel's completion
        // overflow drains, EINTR) leaves the entries queued for the next flush.
        (void)io_uring_submit(ring);
        impl_->queued = io_uring_sq_ready(ring);
    } else if (IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_TASKRUN) {
        // Completions are waiting to be run in this thread (cooperative task running).
        (void)io_uring_get_events(ring);
    }
    impl_->reap();
    return impl_->completed - before;
}

bool uring_ring::cooperative() const noexcept { return impl_->cooperative; }

boost::asio::io_context& uring_ring::io() noexcept { return impl_->io; }

#else  // !WEFT_HAS_IO_URING

struct uring_ring::impl {};

std::unique_ptr<uring_ring> uring_ring::create(boost::asio::io_context&, std::string& error) {
    error = "this build of weft has no io_uring (meson option io_uring, liburing)";
    return nullptr;
}

int uring_ring::submit(const file_call&, uring_op&) { return -ENOSYS; }
void uring_ring::cancel(std::uint64_t) {}
int uring_ring::queue_socket(bool, int, void*, std::size_t, uring_op&) { return -ENOSYS; }
std::size_t uring_ring::flush() { return 0; }
bool uring_ring::cooperative() const noexcept { return false; }
std::size_t uring_ring::in_flight() const noexcept { return 0; }
boost::asio::io_context& uring_ring::io() noexcept { std::abort(); }

#endif

// Waits for `op`, asking the ring's kernel to cancel it if the task is aborted meanwhile.
void wait_for_op(uring_ring& ring, uring_op& op, const char* what, std::source_location where) {
    bool cancel_sent = false;
    while (!op.done.load(std::memory_order_acquire)) {  // pairs with the reaper's release
        if (!cancel_sent && cancellation_requested()) {
            cancel_sent = true;
            // The ring is the submitting worker's, and only its thread touches it: a task
            // that the abort resumed elsewhere asks that worker. `ring` outlives the request:
            // this task does not leave before the operation completes, so the runtime (and
            // its workers) are still up; a request that arrives after the completion finds
            // the slot's generation changed and does nothing.
            worker* here = this_thread_context().w;
            if (here != nullptr && here->ring_if_set() == &ring) {
                ring.cancel(op.user_data);
            } else {
                boost::asio::post(ring.io(), [r = &ring, ud = op.user_data] { r->cancel(ud); });
            }
            continue;
        }
        // The abort's wake-up was taken above; from here only the completion wakes us (or a
        // shuffle-mode spurious wake, which the loop absorbs).
        park(what, where);
    }
}

std::unique_ptr<uring_ring> open_worker_ring(boost::asio::io_context& io, fs::io_backend files,
                                             net::io_backend sockets) {
    if (files == fs::io_backend::thread_pool && sockets == net::io_backend::reactor) {
        return nullptr;
    }
    std::string error;
    std::unique_ptr<uring_ring> ring = uring_ring::create(io, error);
    if (ring) return ring;
    const bool asked = files == fs::io_backend::io_uring || sockets == net::io_backend::io_uring;
    if (!asked && !WEFT_HAS_IO_URING) return nullptr;
    static std::atomic<bool> said{false};
    if (!said.exchange(true, std::memory_order_relaxed)) {
        std::fprintf(stderr,
                     "weft: io_uring is not available (%s); file I/O uses the blocking pool and "
                     "tcp_stream the reactor\n",
                     error.c_str());
    }
    return nullptr;
}

uring_ring::uring_ring(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {}

uring_ring::~uring_ring() = default;

}  // namespace weft::detail
