// perform(): one file call through the backend of the calling context (see file_call.hpp).
//
// On the io_uring backend the operation (uring_ring.hpp) lives in this frame, and the frame is
// not left before the operation's completion was reaped: the kernel may be filling the
// caller's buffer until then. On the thread_pool backend the job borrows the caller's
// buffer and path, so the task waits for the job to end under a shield, abort or not.
#include "file_call.hpp"

#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"
#include "../scheduler/uring_ring.hpp"
#include "../scheduler/worker.hpp"

#include <weft/detail/park.hpp>
#include <weft/task/join_error.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/this_task.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace weft::detail {
namespace {

// The kernel transfers at most this much per call (see uring_ring.cpp); the same clamp here
// keeps the two backends' short reads alike.
constexpr std::size_t max_transfer = 0x7ffff000;

std::int64_t on_ring(uring_ring& ring, const file_call& c, bool blocking, const char* what,
                     std::source_location where) {
    uring_op op;
    op.w = current_waker(what);
    if (int rc = ring.queue(c, op, blocking); rc < 0) return rc;
    wait_for_op(ring, op, what, where);  // the worker submits it when it runs out of tasks
    return op.result;
}

// An open for writing: of a FIFO, it waits for a reader (open(2)), where the ring's first,
// non-blocking try fails with ENXIO.
bool opens_for_writing(const file_call& c) {
    return c.what == file_call::op::open && (c.flags & O_ACCMODE) != O_RDONLY;
}

std::int64_t on_pool(const file_call& c, std::source_location where) {
    auto job = weft::spawn_blocking([&c] { return perform_inline(c); }, where);
    std::int64_t result = -ECANCELED;
    {
        // The job borrows `c` and the buffers it points to: leave only once it has ended.
        this_task::shield s;
        try {
            result = job.join();
        } catch (const join_error&) {
            // The runtime shut down before the job could run: nothing happened.
        }
    }
    return result;
}

}  // namespace

std::int64_t perform_inline(const file_call& c) noexcept {
    std::size_t len = std::min(c.len, max_transfer);
    for (;;) {
        ssize_t r = -1;
        switch (c.what) {
            case file_call::op::open:
                r = ::open(c.path, c.flags | O_CLOEXEC, static_cast<mode_t>(c.mode));
                break;
            case file_call::op::read:
                r = c.offset == file_call::at_position
                        ? ::read(c.fd, c.buf, len)
                        : ::pread(c.fd, c.buf, len, static_cast<off_t>(c.offset));
                break;
            case file_call::op::write:
                r = c.offset == file_call::at_position
                        ? ::write(c.fd, c.buf, len)
                        : ::pwrite(c.fd, c.buf, len, static_cast<off_t>(c.offset));
                break;
            case file_call::op::sync_all:
                r = ::fsync(c.fd);
                break;
            case file_call::op::sync_data:
                r = ::fdatasync(c.fd);
                break;
        }
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

std::int64_t perform(const file_call& c, const char* what, std::source_location where) {
    if (current_task() == nullptr) {
        check_may_block(what);
        return perform_inline(c);
    }
    uring_ring* ring = task_file_ring(where);
    std::int64_t result = 0;
    if (ring == nullptr) {
        result = on_pool(c, where);
    } else {
        result = on_ring(*ring, c, false, what, where);
        if (result == -ENXIO && opens_for_writing(c)) {
            // The ring tries an open without blocking first (the kernel adds O_NONBLOCK) and
            // keeps that try's result unless it is EAGAIN: a FIFO with no reader yet fails
            // with ENXIO there, where open(2), and the pool backend, wait for one. Once more
            // on the kernel's workers, which block as open(2) does (ENXIO that means
            // something else, a device that is not there, comes back again). The task may
            // have moved meanwhile: its ring now, and a cancellation point before it.
            ring = task_file_ring(where);
            result = ring != nullptr ? on_ring(*ring, c, true, what, where) : on_pool(c, where);
        }
    }
    // A call that completed returns its result even if the task was aborted meanwhile (the
    // next cancellation point throws): its effect happened, and reporting it keeps reads at
    // the file's position from losing bytes. One the kernel cancelled had no effect: it ends
    // in ECANCELED, or in EINTR when the kernel's worker running it was interrupted (an open
    // waiting for a FIFO's other end; the ring reports the kernel's restart code as EINTR). (A pool
    // job that never ran, the runtime shutting down, reports -ECANCELED too.)
    if (result == -ECANCELED || result == -EINTR) throw_if_cancelled();
    return result;
}

uring_ring* task_file_ring(std::source_location where) {
    if (current_task() == nullptr) return nullptr;
    // The cancellation point, and the cooperative budget, as every call that may wait has.
    consume_budget(where);
    worker* w = this_thread_context().w;
    return w != nullptr ? w->file_ring() : nullptr;
}

fs::io_backend task_backend() {
    worker* w = current_task() != nullptr ? this_thread_context().w : nullptr;
    if (w == nullptr) {
        throw std::logic_error(
            "weft::fs::backend: called outside a task (a plain thread or the blocking pool runs "
            "file calls itself)");
    }
    return w->file_ring() != nullptr ? fs::io_backend::io_uring : fs::io_backend::thread_pool;
}

}  // namespace weft::detail

namespace weft::fs {

io_backend backend() { return detail::task_backend(); }

}  // namespace weft::fs
