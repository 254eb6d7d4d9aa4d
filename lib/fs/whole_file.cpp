// weft::fs: whole-file read and write with POSIX calls, run on the blocking pool from a task.
//
// The job borrows the caller's path and data, so the task must not leave before the job
// ends: it waits for the join under a shield and only then honours an abort (offload's
// rule). The blocking-pool hand-off costs two thread switches; docs/notes/net.md has the
// numbers against reading inline with std::ifstream.
#include <weft/detail/park.hpp>
#include <weft/fs/whole_file.hpp>
#include <weft/task/join_error.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/this_task.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <new>
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

}  // namespace

std::string read(const std::filesystem::path& path, std::source_location where) {
    std::string out;
    if (int err =
            run_file_job([&path, &out] { return read_now(path, out); }, "weft::fs::read", where)) {
        fail("weft::fs::read", path, err);
    }
    return out;
}

void write(const std::filesystem::path& path, std::string_view data, std::source_location where) {
    if (int err = run_file_job([&path, data] { return write_now(path, data); }, "weft::fs::write",
                               where)) {
        fail("weft::fs::write", path, err);
    }
}

}  // namespace weft::fs
