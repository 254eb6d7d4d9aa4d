// weft::fs: whole-file read and write. On the thread_pool backend (and on a plain thread) the
// whole job is one function of POSIX calls, run on the blocking pool from a task (one
// hand-off for the file, as tokio::fs::read does); on the io_uring backend each step is a
// file_call on the worker's ring, with no hand-off at all.
//
// The pool job borrows the caller's path and data, so the task must not leave before the job
// ends: it waits for the join under a shield and only then honours an abort (offload's
// rule). The blocking-pool hand-off costs two thread switches; docs/notes/net.md has the
// numbers against reading inline with std::ifstream.
#include "file_call.hpp"

#include "../scheduler/uring_ring.hpp"

#include <weft/detail/assert.hpp>
#include <weft/detail/park.hpp>
#include <weft/fs/io_backend.hpp>
#include <weft/fs/whole_file.hpp>
#include <weft/task/join_error.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/this_task.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <utility>

namespace weft::fs {
namespace {

// The jobs report errors as errno values, not exceptions: the caller builds the
// filesystem_error on its own thread, so no exception object is shared across threads.

struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

/// Reads the file into `out`; returns 0 or an errno value.
int read_now(const std::filesystem::path& p, std::string& out) noexcept {
    try {
        fd_guard f{::open(p.c_str(), O_RDONLY | O_CLOEXEC)};
        if (f.fd < 0) return errno;
        struct stat st {};
        if (::fstat(f.fd, &st) != 0) return errno;
        // Files that report no size (procfs) or grow while read: read on until EOF.
        std::size_t want = st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 0;
        out.resize(want > 0 ? want + 1 : 4096);
        std::size_t len = 0;
        for (;;) {
            if (len == out.size()) out.resize(out.size() * 2);
            ssize_t n = ::read(f.fd, out.data() + len, out.size() - len);
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno;
            }
            if (n == 0) break;
            len += static_cast<std::size_t>(n);
            // The size fstat reported is read and the read came back short: the file ends
            // here (unless it grows this instant, which no read order can rule out), so no
            // call just to see the 0. Not for files that report size 0 (procfs, which returns
            // short reads mid-file) or short reads before the size (FUSE may).
            if (want > 0 && len >= want && len < out.size() && S_ISREG(st.st_mode)) break;
        }
        out.resize(len);
        return 0;
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
}

/// Creates or truncates the file and writes `data`; returns 0 or an errno value.
int write_now(const std::filesystem::path& p, std::string_view data) noexcept {
    fd_guard f{::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)};
    if (f.fd < 0) return errno;
    while (!data.empty()) {
        ssize_t n = ::write(f.fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    int fd = std::exchange(f.fd, -1);
    if (::close(fd) != 0 && errno != EINTR) return errno;
    return 0;
}

/// Runs `f` (returning an errno value) inline, or on the blocking pool from a task: the job
/// borrows the caller's arguments, so the task waits for it even when aborted meanwhile
/// (under a shield) and honours the abort only afterwards.
template <class F>
int run_file_job(F f, const char* what, std::source_location where) {
    if (weft::detail::current_task() == nullptr) {
        weft::detail::check_may_block(what);
        return f();
    }
    weft::detail::throw_if_cancelled();
    auto job = weft::spawn_blocking(std::move(f), where);
    int err = 0;
    {
        this_task::shield s;
        try {
            err = job.join();
        } catch (const join_error&) {
            err = ECANCELED;  // the runtime shut down before the job could run
        }
    }
    weft::detail::throw_if_cancelled();
    return err;
}

[[noreturn]] void fail(const char* what, const std::filesystem::path& p, int err) {
    throw std::filesystem::filesystem_error(what, p, std::error_code(err, std::system_category()));
}

// Whether the calling task's file calls go to its worker's ring.
bool on_ring() {
    return weft::detail::current_task() != nullptr && backend() == io_backend::io_uring;
}

std::int64_t step(weft::detail::file_call c, const char* what, std::source_location where) {
    return weft::detail::perform(c, what, where);
}

std::string read_stepwise(const std::filesystem::path& path, std::source_location where) {
    const char* what = "weft::fs::read";
    weft::detail::file_call c;
    c.what = weft::detail::file_call::op::open;
    c.path = path.c_str();
    c.flags = O_RDONLY;
    std::int64_t fd = step(c, what, where);
    if (fd < 0) fail(what, path, static_cast<int>(-fd));
    fd_guard f{static_cast<int>(fd)};
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) fail(what, path, errno);
    std::size_t want = st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 0;
    // Read on until end of file, as the pool path does: a file may grow while it is read,
    // and procfs files report size 0.
    std::string out(want > 0 ? want + 1 : 4096, '\0');
    std::size_t len = 0;
    for (;;) {
        if (len == out.size()) out.resize(out.size() * 2);
        c = {};
        c.what = weft::detail::file_call::op::read;
        c.fd = f.fd;
        c.buf = out.data() + len;
        c.len = out.size() - len;
        c.offset = len;
        std::int64_t n = step(c, what, where);
        if (n < 0) fail(what, path, static_cast<int>(-n));
        if (n == 0) break;
        len += static_cast<std::size_t>(n);
        // The size is read and the read came back short: done (see read_now).
        if (want > 0 && len >= want && len < out.size() && S_ISREG(st.st_mode)) break;
    }
    out.resize(len);
    weft::detail::throw_if_cancelled();  // the data of an aborted read is dropped
    return out;
}

// The linked path: the open and the first read go to the kernel in one submission, through a
// direct descriptor (uring_ring::take_direct_slot), so a file whose blocks are not cached
// costs the task one wait instead of two, and no fstat or close(2) runs on the worker. The
// size is not known up front: the first read asks for first_read bytes, a short read is
// confirmed by one more (a procfs file returns short reads mid-file, so a short read alone
// does not mean the end), and a full one doubles the buffer. Reads then closes on the same
// descriptor, never a second open: procfs content read through two opens could mix two
// snapshots.
constexpr std::size_t first_read = 16 * 1024;

/// fs::read on the linked path; nullopt, having returned what it took, when the ring has no
/// direct slot free (or no table) or no room for the chain: the caller then takes the
/// step-by-step path. The reads after the first go to the ring that holds the slot, through
/// its owner if the task was resumed by another worker meanwhile (run_step_on_owner).
std::optional<std::string> read_linked(weft::detail::uring_ring& ring,
                                       const std::filesystem::path& path,
                                       std::source_location where) {
    using weft::detail::chain_step;
    using weft::detail::uring_op;
    const char* what = "weft::fs::read";
    if (!ring.linked_open_worth_trying()) return std::nullopt;
    // Not a std::string yet: one that size would be zero-filled first, for a file that
    // usually fills a fraction of it (the copy at the end costs less).
    std::size_t cap = first_read;
    std::unique_ptr<char[]> buf(new char[cap]);
    int taken = ring.take_direct_slot();
    if (taken < 0) return std::nullopt;
    const auto slot = static_cast<unsigned>(taken);
    uring_op opened, got;
    chain_step steps[2] = {
        {.what = chain_step::op::open_direct,
         .slot = slot,
         .path = path.c_str(),
         .result = &opened},
        {.what = chain_step::op::read_fixed,
         .slot = slot,
         .buf = buf.get(),
         .len = cap,
         .offset = 0,
         .result = &got},
    };
    opened.w = weft::detail::current_waker(what);
    got.w = weft::detail::current_waker(what);
    if (ring.queue_chain(steps) < 0) {
        ring.give_back_direct_slot(slot);  // nothing was queued
        return std::nullopt;
    }
    weft::detail::wait_for_op(ring, got, what, where, opened.user_data);
    // Linked: the open's completion is reaped before the read's.
    WEFT_ASSERT(opened.done.load(std::memory_order_acquire),
                "fs::read: the read completed before the open it follows");
    // From here the slot is closed on every way out, whatever it holds (after a failed open,
    // nothing: that close fails with EBADF), and freed once the close completes. Nobody waits
    // for it: a close of a direct descriptor completes at once, with the next submission.
    struct closer {
        weft::detail::uring_ring& ring;
        unsigned slot;
        ~closer() { weft::detail::close_direct_from_anywhere(ring, slot); }
    } close_at_exit{ring, slot};
    // Not in the dentry cache: step by step (the ring's reaper recorded the miss, and the next
    // reads skip the try for a while).
    if (opened.result == -EAGAIN) return std::nullopt;
    if (opened.result < 0) {
        // An aborted task's open may end in ECANCELED or, interrupted in the kernel's worker,
        // in EINTR: the abort is what the task reports.
        weft::detail::throw_if_cancelled();
        fail(what, path, static_cast<int>(-opened.result));
    }
    std::size_t len = 0;
    for (std::int64_t n = got.result;;) {
        if (n < 0) {
            weft::detail::throw_if_cancelled();  // as for the open
            fail(what, path, static_cast<int>(-n));
        }
        if (n == 0) break;  // end of file
        len += static_cast<std::size_t>(n);
        if (len == cap) {
            std::unique_ptr<char[]> bigger(new char[2 * cap]);
            std::memcpy(bigger.get(), buf.get(), len);
            buf = std::move(bigger);
            cap *= 2;
        }
        // After a full read the file goes on; after a short one it most likely ends, and the
        // next read says so with 0 (a procfs file returns short reads mid-file, so a short
        // read alone is no proof).
        uring_op more;
        chain_step st{.what = chain_step::op::read_fixed,
                      .slot = slot,
                      .buf = buf.get() + len,
                      .len = cap - len,
                      .offset = len,
                      .result = &more};
        n = weft::detail::run_step_on_owner(ring, st, what, where);
    }
    weft::detail::throw_if_cancelled();  // the data of an aborted read is dropped
    return std::string(buf.get(), len);
}

std::string read_on_ring(const std::filesystem::path& path, std::source_location where) {
    if (weft::detail::uring_ring* ring = weft::detail::task_file_ring(where)) {
        if (auto out = read_linked(*ring, path, where)) return std::move(*out);
    }
    return read_stepwise(path, where);
}

void write_on_ring(const std::filesystem::path& path, std::string_view data,
                   std::source_location where) {
    const char* what = "weft::fs::write";
    weft::detail::file_call c;
    c.what = weft::detail::file_call::op::open;
    c.path = path.c_str();
    c.flags = O_WRONLY | O_CREAT | O_TRUNC;
    c.mode = 0666;
    std::int64_t fd = step(c, what, where);
    if (fd < 0) fail(what, path, static_cast<int>(-fd));
    fd_guard f{static_cast<int>(fd)};
    std::size_t done = 0;
    while (done < data.size()) {
        c = {};
        c.what = weft::detail::file_call::op::write;
        c.fd = f.fd;
        // safety: a write only reads from the buffer; file_call has one pointer both ways.
        c.buf = const_cast<char*>(data.data() + done);
        c.len = data.size() - done;
        c.offset = done;
        std::int64_t n = step(c, what, where);
        if (n < 0) fail(what, path, static_cast<int>(-n));
        done += static_cast<std::size_t>(n);
    }
    int raw = std::exchange(f.fd, -1);
    if (::close(raw) != 0 && errno != EINTR) fail(what, path, errno);
    weft::detail::throw_if_cancelled();
}

}  // namespace

std::string read(const std::filesystem::path& path, std::source_location where) {
    if (on_ring()) return read_on_ring(path, where);
    std::string out;
    if (int err =
            run_file_job([&path, &out] { return read_now(path, out); }, "weft::fs::read", where)) {
        fail("weft::fs::read", path, err);
    }
    return out;
}

void write(const std::filesystem::path& path, std::string_view data, std::source_location where) {
    if (on_ring()) return write_on_ring(path, data, where);
    if (int err = run_file_job([&path, data] { return write_now(path, data); }, "weft::fs::write",
                               where)) {
        fail("weft::fs::write", path, err);
    }
}

}  // namespace weft::fs
