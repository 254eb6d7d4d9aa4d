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
#include <linux/openat2.h>
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
// Submission entries: what the tasks queue between two flushes; a full queue goes to the
// kernel at once (make_room), so this bounds a batch, not what may be in flight. Completion
// entries: every task may have one operation in flight, and a burst
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
// Slots of the ring's direct-descriptor table (fs::read's linked open and read): as many
// whole-file reads in flight on one worker; more fall back to a plain descriptor.
constexpr unsigned direct_slots = 256;
// After a linked open missed the dentry cache, this many fs::reads skip the attempt (and then
// one tries while the others wait for its verdict: linked_open_worth_trying).
constexpr unsigned linked_skips_after_miss = 16;

constexpr std::uint64_t make_user_data(std::uint32_t index, std::uint32_t gen) {
    return (std::uint64_t{gen} << 32) | (std::uint64_t{index} + 1);  // 0 is never an operation
}
// The kernel's internal "restart the system call" codes (ERESTARTSYS 512 to
// ERESTART_RESTARTBLOCK 516) are never meant for user space, but a kernel worker whose wait a
// cancel interrupted (an open waiting for a FIFO's reader, measured) posts one as its result:
// it means EINTR, and that is what the waiting task sees.
constexpr std::int32_t user_space_result(std::int32_t res) {
    constexpr std::int32_t restart_first = 512, restart_last = 516;
    return res <= -restart_first && res >= -restart_last ? -EINTR : res;
}
// A slot's generation stays below 2^31, so an operation's user_data never has the top bit,
// which marks a detached close instead (its low bits are the direct slot to free).
constexpr std::uint32_t next_gen(std::uint32_t gen) { return (gen + 1) & 0x7fffffffU; }
constexpr std::uint64_t detached_close_tag = std::uint64_t{1} << 63;
}  // namespace

struct uring_ring::impl {
    struct slot {
        uring_op* op = nullptr;
        std::uint32_t gen = 0;
        bool linked_open = false;  // fs::read's cached-only open: its outcome is recorded
    };

    boost::asio::io_context& io;
    io_uring ring{};
    boost::asio::posix::stream_descriptor event;  // owns the eventfd registered with the ring
    std::vector<slot> slots;
    std::vector<std::uint32_t> free_slots;
    std::vector<unsigned> free_direct;  // direct-descriptor slots holding no descriptor
    // One per submission entry, at the entry's index: the open_how an openat2 entry points
    // to, which the kernel reads when it takes the entry, and which stays put until then (the
    // entry is not handed out again before the kernel took it).
    std::vector<open_how> open_hows;
    unsigned linked_skips = 0;    // fs::reads left to go step by step after a miss
    unsigned linked_pending = 0;  // linked opens queued or in flight, outcome unknown
    bool linked_missing = false;  // the last linked open's outcome was a miss
    std::size_t in_flight = 0;
    counters stats;
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
                             // failed read (EAGAIN: a flush reaped first) changes nothing.
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
        if (user_data & detached_close_tag) {
            // The slot is empty again (or never held a descriptor: -EBADF): free it here, on
            // the owner's thread, whichever task asked.
            free_direct.push_back(static_cast<unsigned>(user_data & 0xffffffffU));
            return;
        }
        auto index = static_cast<std::uint32_t>((user_data & 0xffffffffU) - 1);
        WEFT_ASSERT(index < slots.size() && slots[index].op != nullptr &&
                        slots[index].gen == static_cast<std::uint32_t>(user_data >> 32),
                    "uring_ring: a completion for no operation in flight");
        uring_op* op = std::exchange(slots[index].op, nullptr);
        slots[index].gen = next_gen(slots[index].gen);
        if (std::exchange(slots[index].linked_open, false)) linked_open_outcome(res);
        free_slots.push_back(index);
        --in_flight;
        ++completed;
        // safety: the waker is taken and the result stored before `done` is published; the
        // operation's task may return (and its stack frame die) as soon as it sees `done`.
        waker w = std::move(op->w);
        op->result = user_space_result(res);
        op->done.store(true, std::memory_order_release);  // pairs with wait_for's acquire
        // A task that reaps its own completion (its cancel request's submission reaps) is
        // running: waking it would only make its next park return at once for nothing.
        if (w.task() != nullptr && w.task() == current_task()) {
            w.reset();
        } else {
            w.wake();
        }
    }

    // A cached-only open failed with -EAGAIN (a miss) or did what a plain open would have (a
    // hit, whether the file opened or not).
    void linked_open_outcome(std::int32_t res) {
        --linked_pending;
        linked_missing = res == -EAGAIN;
        if (linked_missing) {
            linked_skips = linked_skips_after_miss;
            ++stats.linked_misses;
        }
    }

    // Hands every queued entry to the kernel. An error (EBUSY while the kernel's completion
    // overflow drains, EAGAIN when it cannot allocate) leaves them queued for the next try:
    // they are in the shared queue already and cannot be taken back. The owner's park then
    // waits only briefly before it tries again (has_unsubmitted), so a refusal delays the
    // calls, never strands them.
    // (Queued entries are the ring's own count, io_uring_sq_ready: taken from the queue and
    // not yet consumed by the kernel.)
    // Returns false when nothing was queued.
    bool submit_queued() {
        if (io_uring_sq_ready(&ring) == 0) return false;
        int rc = -EAGAIN;
        if (!fault::hit(fault::point::io_uring_submit)) {
            while ((rc = io_uring_submit(&ring)) == -EINTR) {}
        }
        if (rc >= 0) ++stats.submissions;
        return true;
    }

    // A cancel request, prepared by `prep` in a free entry, goes to the kernel at once with
    // whatever was queued before it, in order (an operation still queued is taken first, then
    // cancelled); what completed meanwhile is reaped. No entry even after making room: the
    // operation completes anyway, cancelling only hurries it.
    template <class Prep>
    void cancel_now(Prep prep) {
        io_uring_sqe* sqe = entry();
        if (sqe == nullptr) return;
        prep(sqe);
        io_uring_sqe_set_data64(sqe, 0);  // the request's own completion is ignored
        submit_queued();
        reap();
    }

    // Whether `n` submission entries are free; when the queue is too full they go to the
    // kernel first.
    bool make_room(std::size_t n) {
        if (io_uring_sq_space_left(&ring) >= n) return true;
        submit_queued();
        return io_uring_sq_space_left(&ring) >= n;
    }

    // The open_how for an openat2 in `sqe`. safety: the kernel reads it when it takes the
    // entry, after this returns; it sits at the entry's own index, and the entry is not handed
    // out again (so neither is the open_how) before the kernel took it.
    open_how* open_how_for(const io_uring_sqe* sqe, std::uint64_t flags, std::uint64_t resolve) {
        open_how& how = open_hows[static_cast<std::size_t>(sqe - ring.sq.sqes)];
        how = open_how{};
        how.flags = flags;
        how.resolve = resolve;
        return &how;
    }

    // A free submission entry (make_room), or null if even that made no room.
    io_uring_sqe* entry() { return make_room(1) ? io_uring_get_sqe(&ring) : nullptr; }

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
    p->open_hows.resize(p->ring.sq.ring_entries);
    // Best effort (kernel 5.15+): without it cold reads only queue deeper in the kernel.
    unsigned workers[2] = {bounded_workers, 0};  // 0: leave the unbounded limit alone
    (void)io_uring_register_iowq_max_workers(&p->ring, workers);
    // Best effort (Linux 5.19+): without the table fs::read opens a plain descriptor.
    if (io_uring_register_files_sparse(&p->ring, direct_slots) == 0) {
        for (unsigned i = direct_slots; i-- > 0;) p->free_direct.push_back(i);
    }
    if (rc = io_uring_register_eventfd(&p->ring, efd); rc < 0) {
        error = std::string("io_uring_register_eventfd: ") + std::strerror(-rc);
        return nullptr;  // impl's destructor tears the ring down
    }
    p->arm();
    return std::unique_ptr<uring_ring>(new uring_ring(std::move(p)));
}

int uring_ring::queue(const file_call& c, uring_op& op, bool blocking) {
    io_uring_sqe* sqe = impl_->entry();
    if (sqe == nullptr) return -EBUSY;
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
    if (blocking || ((c.what == file_call::op::read || c.what == file_call::op::write) &&
                     len >= async_transfer)) {
        sqe->flags |= IOSQE_ASYNC;
    }
    std::uint32_t index = impl_->take_slot(op);
    op.user_data = make_user_data(index, impl_->slots[index].gen);
    io_uring_sqe_set_data64(sqe, op.user_data);
    return 0;
}

int uring_ring::take_direct_slot() noexcept {
    if (impl_->free_direct.empty()) return -1;
    unsigned slot = impl_->free_direct.back();
    impl_->free_direct.pop_back();
    return static_cast<int>(slot);
}

void uring_ring::give_back_direct_slot(unsigned slot) { impl_->free_direct.push_back(slot); }

std::size_t uring_ring::direct_slots_free() const noexcept { return impl_->free_direct.size(); }

bool uring_ring::linked_open_worth_trying() noexcept {
    if (impl_->linked_skips > 0) {
        --impl_->linked_skips;
        return false;
    }
    // After a miss, one read at a time finds out whether the cache is warm again: the tasks
    // that run before its verdict is reaped go step by step (each of them trying would cost it
    // a round trip, and their queued tries would all miss together).
    return !impl_->linked_missing || impl_->linked_pending == 0;
}

uring_ring::counters uring_ring::stats() const noexcept { return impl_->stats; }

void uring_ring::cancel_direct(unsigned slot) {
    impl_->cancel_now([slot](io_uring_sqe* sqe) {
        io_uring_prep_cancel_fd(sqe, static_cast<int>(slot),
                                IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
    });
}

void uring_ring::close_direct_detached(unsigned slot) {
    io_uring_sqe* sqe = impl_->entry();
    // No room even now: the slot stays taken, and its descriptor is freed with the ring.
    if (sqe == nullptr) return;
    io_uring_prep_close_direct(sqe, slot);
    io_uring_sqe_set_data64(sqe, detached_close_tag | slot);  // nobody waits for it
}

int uring_ring::queue_chain(std::span<const chain_step> steps) {
    io_uring* ring = &impl_->ring;
    if (!impl_->make_room(steps.size())) return -EBUSY;    // the chain's entries stay together
    [[maybe_unused]] constexpr std::size_t max_steps = 2;  // an open and the read from it
    WEFT_ASSERT(steps.size() <= max_steps, "uring_ring::queue_chain: at most two steps");
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const chain_step& st = steps[i];
        io_uring_sqe* sqe = io_uring_get_sqe(ring);
        auto len = static_cast<unsigned>(std::min(st.len, max_transfer));
        switch (st.what) {
            case chain_step::op::open_direct:
                // No O_CLOEXEC: a direct descriptor is never in the process's table.
                // RESOLVE_CACHED: a path whose lookup would read the disk fails at once. Then
                // the kernel would run the open on one of its workers, and the read linked to
                // it there too, blocking that worker for the read's I/O as well (measured:
                // cold small files 0.85x the separate open and read); a separate read waits
                // for its page without holding a worker.
                io_uring_prep_openat2_direct(sqe, AT_FDCWD, st.path,
                                             impl_->open_how_for(sqe, O_RDONLY, RESOLVE_CACHED),
                                             st.slot);
                break;
            case chain_step::op::read_fixed:
                io_uring_prep_read(sqe, static_cast<int>(st.slot), st.buf, len, st.offset);
                sqe->flags |= IOSQE_FIXED_FILE;
                break;
        }
        // A hard link: the next step runs whatever this one returned (a short read would
        // break a soft link); a step that cannot do anything (a read after a failed open)
        // completes with -EBADF.
        if (i + 1 < steps.size()) sqe->flags |= IOSQE_IO_HARDLINK;
        std::uint32_t index = impl_->take_slot(*st.result);
        if (st.what == chain_step::op::open_direct) {
            impl_->slots[index].linked_open = true;
            ++impl_->linked_pending;
            ++impl_->stats.linked_opens;
        }
        st.result->user_data = make_user_data(index, impl_->slots[index].gen);
        io_uring_sqe_set_data64(sqe, st.result->user_data);
    }
    return 0;
}

void uring_ring::cancel(std::uint64_t user_data) {
    auto index = static_cast<std::uint32_t>((user_data & 0xffffffffU) - 1);
    if (index >= impl_->slots.size() || impl_->slots[index].op == nullptr ||
        impl_->slots[index].gen != static_cast<std::uint32_t>(user_data >> 32)) {
        return;  // completed already (the slot may hold a newer operation: leave it alone)
    }
    impl_->cancel_now(
        [user_data](io_uring_sqe* sqe) { io_uring_prep_cancel64(sqe, user_data, 0); });
}

std::size_t uring_ring::in_flight() const noexcept { return impl_->in_flight; }

bool uring_ring::has_unsubmitted() const noexcept { return io_uring_sq_ready(&impl_->ring) > 0; }

int uring_ring::queue_socket(bool send, int fd, void* buf, std::size_t len, uring_op& op) {
    io_uring_sqe* sqe = impl_->entry();
    if (sqe == nullptr) return -EBUSY;
    auto n = static_cast<unsigned>(std::min(len, max_transfer));
    if (send) {
        io_uring_prep_send(sqe, fd, buf, n, MSG_NOSIGNAL);
    } else {
        io_uring_prep_recv(sqe, fd, buf, n, 0);
    }
    std::uint32_t index = impl_->take_slot(op);
    op.user_data = make_user_data(index, impl_->slots[index].gen);
    io_uring_sqe_set_data64(sqe, op.user_data);
    return 0;
}

std::size_t uring_ring::flush() {
    io_uring* ring = &impl_->ring;
    const std::size_t before = impl_->completed;
    // One system call for every entry queued since the last flush; it also runs the
    // completions the kernel holds for us.
    if (!impl_->submit_queued() && (IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_TASKRUN)) {
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

int uring_ring::queue(const file_call&, uring_op&, bool) { return -ENOSYS; }
int uring_ring::take_direct_slot() noexcept { return -1; }
void uring_ring::give_back_direct_slot(unsigned) {}
std::size_t uring_ring::direct_slots_free() const noexcept { return 0; }
bool uring_ring::linked_open_worth_trying() noexcept { return false; }
uring_ring::counters uring_ring::stats() const noexcept { return {}; }
void uring_ring::close_direct_detached(unsigned) {}
void uring_ring::cancel_direct(unsigned) {}
int uring_ring::queue_chain(std::span<const chain_step>) { return -ENOSYS; }
void uring_ring::cancel(std::uint64_t) {}
int uring_ring::queue_socket(bool, int, void*, std::size_t, uring_op&) { return -ENOSYS; }
std::size_t uring_ring::flush() { return 0; }
bool uring_ring::cooperative() const noexcept { return false; }
std::size_t uring_ring::in_flight() const noexcept { return 0; }
bool uring_ring::has_unsubmitted() const noexcept { return false; }
boost::asio::io_context& uring_ring::io() noexcept { std::abort(); }

#endif

bool on_owner_of(const uring_ring& ring) noexcept {
    worker* here = this_thread_context().w;
    return here != nullptr && here->ring_if_set() == &ring;
}

namespace {
// Runs `f(ring)` on the ring's owner: at once when this is its thread, else in a handler
// posted to its shard (only the owner touches a ring). `ring` lives as long as its worker,
// which outlives every handler of its shard; `f` must own what it uses.
template <class F>
void on_owner(uring_ring& ring, F f) {
    if (on_owner_of(ring)) {
        f(ring);
    } else {
        boost::asio::post(ring.io(), [r = &ring, f = std::move(f)] { f(*r); });
    }
}
}  // namespace

// Waits for `op`, asking the ring's kernel to cancel it if the task is aborted meanwhile.
void wait_for_op(uring_ring& ring, uring_op& op, const char* what, std::source_location where,
                 std::uint64_t also_cancel) {
    bool cancel_sent = false;
    while (!op.done.load(std::memory_order_acquire)) {  // pairs with the reaper's release
        if (!cancel_sent && cancellation_requested()) {
            cancel_sent = true;
            // The ring is the queueing worker's, and only its thread touches it: a task
            // that the abort resumed elsewhere asks that worker. `ring` outlives the request:
            // this task does not leave before the operation completes, so the runtime (and
            // its workers) are still up; a request that arrives after the completion finds
            // the slot's generation changed and does nothing.
            on_owner(ring, [first = also_cancel, ud = op.user_data](uring_ring& r) {
                if (first != 0) r.cancel(first);
                r.cancel(ud);
            });
            continue;
        }
        // The abort's wake-up was taken above; from here only the completion wakes us (or a
        // shuffle-mode spurious wake, which the loop absorbs).
        park(what, where);
    }
}

std::int64_t run_step_on_owner(uring_ring& ring, chain_step& st, const char* what,
                               std::source_location where) {
    uring_op& op = *st.result;
    op.w = current_waker(what);
    if (on_owner_of(ring)) {
        if (int rc = ring.queue_chain(std::span(&st, 1)); rc < 0) return rc;
    } else {
        // safety: `st` and its op live on this task's stack, and the task does not leave
        // before `done`, which only the reaper (after this handler queued it) or this handler
        // (when it could not) publishes. The task reads nothing the handler writes but the
        // result, after `done` (acquire).
        boost::asio::post(ring.io(), [r = &ring, s = &st] {
            if (int rc = r->queue_chain(std::span(s, 1)); rc < 0) {
                uring_op& o = *s->result;
                waker w = std::move(o.w);
                o.result = rc;
                o.done.store(true, std::memory_order_release);  // pairs with the acquire below
                w.wake();
            }
        });
    }
    bool cancel_sent = false;
    while (!op.done.load(std::memory_order_acquire)) {  // pairs with the reaper's release
        if (!cancel_sent && cancellation_requested()) {
            cancel_sent = true;
            // By slot, not by user_data (which the owner may be writing now): the slot is this
            // read's alone until the close after it, which this task issues later, so the
            // cancel matches nothing else. Posted after the submission, it runs after it.
            on_owner(ring, [slot = st.slot](uring_ring& r) { r.cancel_direct(slot); });
            continue;
        }
        park(what, where);
    }
    return op.result;
}

void close_direct_from_anywhere(uring_ring& ring, unsigned slot) {
    on_owner(ring, [slot](uring_ring& r) { r.close_direct_detached(slot); });
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
