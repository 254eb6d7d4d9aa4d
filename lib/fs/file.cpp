// file: each call is one file_call (file_call.hpp) through the calling context's backend;
// the loops of read_exact and write_all are here, above the backend, so both backends share
// them.
#include "../net/address.hpp"
#include "file_call.hpp"

#include <weft/fs/file.hpp>
#include <weft/task/task_cancelled.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/system_error.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace weft::fs {
namespace {

[[noreturn]] void fail(const char* what, const std::filesystem::path& p, int err) {
    throw std::filesystem::filesystem_error(what, p, std::error_code(err, std::system_category()));
}

[[noreturn]] void fail_eof(const char* what, const std::filesystem::path& p, std::size_t got,
                           std::size_t wanted) {
    throw boost::system::system_error(boost::asio::error::eof,
                                      std::string(what) + ": " + p.string() +
                                          ": end of file after " + std::to_string(got) + " of " +
                                          std::to_string(wanted) + " bytes");
}

std::size_t transfer(int fd, weft::detail::file_call::op op, void* data, std::size_t len,
                     std::uint64_t offset, const char* what, const std::filesystem::path& p,
                     std::source_location where) {
    weft::detail::file_call c;
    c.what = op;
    c.fd = fd;
    c.buf = data;
    c.len = len;
    c.offset = offset;
    std::int64_t r = weft::detail::perform(c, what, where);
    if (r < 0) fail(what, p, static_cast<int>(-r));
    return static_cast<std::size_t>(r);
}

}  // namespace

namespace detail {
std::pair<boost::system::error_code, std::size_t> transfer_for_asio(int fd, bool write,
                                                                    std::uint64_t offset,
                                                                    void* data, std::size_t len) {
    weft::detail::file_call c;
    c.what = write ? weft::detail::file_call::op::write : weft::detail::file_call::op::read;
    c.fd = fd;
    c.buf = data;
    c.len = len;
    c.offset = offset;
    try {
        std::int64_t r = weft::detail::perform(
            c, write ? "weft::fs::file::async_write_some_at" : "weft::fs::file::async_read_some_at",
            std::source_location::current());
        if (r < 0)
            return {
                boost::system::error_code(static_cast<int>(-r), boost::system::system_category()),
                0};
        return {boost::system::error_code(), static_cast<std::size_t>(r)};
    } catch (const weft::task_cancelled&) {
        return {boost::asio::error::operation_aborted, 0};
    }
}
}  // namespace detail

file file::open(const std::filesystem::path& path, std::source_location where) {
    return open_options().read(true).open(path, where);
}

file file::create(const std::filesystem::path& path, std::source_location where) {
    return open_options().write(true).create(true).truncate(true).open(path, where);
}

file::file(int fd, std::filesystem::path path) noexcept
    : fd_(fd),
      path_(std::move(path)) {}

file::file(file&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      path_(std::move(o.path_)) {}

file& file::operator=(file&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
        path_ = std::move(o.path_);
    }
    return *this;
}

file::~file() {
    if (fd_ >= 0) ::close(fd_);
}

int file::checked_fd(const char* what) const {
    if (fd_ < 0) fail(what, path_, EBADF);  // closed or moved from
    return fd_;
}

namespace {

// For a task that is a select branch (`claimer`): a read moves the file's position, so bytes a
// branch read and then lost the race with would go with its abort. It reads only once it has
// won. A regular file or a block device is read without waiting for anyone, so the branch
// claims first and holds the race through the read. Anything else (a pipe, a FIFO, a
// terminal) may wait for its writer, and a branch that claimed first would hold the race all
// that time: it waits for readiness through its shard's reactor, which takes nothing, then
// claims, as a socket does (net/address.hpp). A descriptor the reactor does not take (a
// character device such as /dev/null, which epoll refuses) is read as a regular file is.
void claim_before_read(int fd, const weft::detail::claim_record* claimer, const char* what,
                       std::source_location where) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        boost::asio::posix::stream_descriptor d(net::detail::new_socket_executor(what));
        boost::system::error_code ec;
        d.assign(fd, ec);
        if (!ec) {
            // The descriptor stays the file's: released (not closed) on every way out.
            struct release_on_exit {
                boost::asio::posix::stream_descriptor& d;
                ~release_on_exit() { d.release(); }
            } release{d};
            net::detail::wait_readable_and_claim(d, claimer, what, where, ec);
            if (!ec) return;  // claimed, with something to read
        }
    }
    while (!weft::detail::claim_select(claimer)) weft::detail::wait_reopened(what, where);
}

}  // namespace

std::size_t file::read_some(boost::asio::mutable_buffer buf, std::source_location where) {
    const char* what = "weft::fs::file::read_some";
    int fd = checked_fd(what);
    if (const weft::detail::claim_record* claimer = weft::detail::current_claimer()) {
        claim_before_read(fd, claimer, what, where);
    }
    return transfer(fd, weft::detail::file_call::op::read, buf.data(), buf.size(),
                    weft::detail::file_call::at_position, what, path_, where);
}

void file::read_exact(boost::asio::mutable_buffer buf, std::source_location where) {
    const char* what = "weft::fs::file::read_exact";
    auto* p = static_cast<char*>(buf.data());
    std::size_t got = 0;
    while (got < buf.size()) {
        std::size_t n =
            transfer(checked_fd(what), weft::detail::file_call::op::read, p + got, buf.size() - got,
                     weft::detail::file_call::at_position, what, path_, where);
        if (n == 0) fail_eof(what, path_, got, buf.size());
        got += n;
    }
}

std::size_t file::read_some_at(std::uint64_t offset, boost::asio::mutable_buffer buf,
                               std::source_location where) {
    const char* what = "weft::fs::file::read_some_at";
    return transfer(checked_fd(what), weft::detail::file_call::op::read, buf.data(), buf.size(),
                    offset, what, path_, where);
}

void file::read_exact_at(std::uint64_t offset, boost::asio::mutable_buffer buf,
                         std::source_location where) {
    const char* what = "weft::fs::file::read_exact_at";
    auto* p = static_cast<char*>(buf.data());
    std::size_t got = 0;
    while (got < buf.size()) {
        std::size_t n = transfer(checked_fd(what), weft::detail::file_call::op::read, p + got,
                                 buf.size() - got, offset + got, what, path_, where);
        if (n == 0) fail_eof(what, path_, got, buf.size());
        got += n;
    }
}

std::size_t file::write_some(boost::asio::const_buffer buf, std::source_location where) {
    const char* what = "weft::fs::file::write_some";
    // safety: a write only reads from the buffer; file_call has one pointer for both ways.
    return transfer(checked_fd(what), weft::detail::file_call::op::write,
                    const_cast<void*>(buf.data()), buf.size(), weft::detail::file_call::at_position,
                    what, path_, where);
}

void file::write_all(boost::asio::const_buffer buf, std::source_location where) {
    const char* what = "weft::fs::file::write_all";
    const auto* p = static_cast<const char*>(buf.data());
    std::size_t done = 0;
    while (done < buf.size()) {
        done += transfer(checked_fd(what), weft::detail::file_call::op::write,
                         const_cast<char*>(p + done), buf.size() - done,
                         weft::detail::file_call::at_position, what, path_, where);
    }
}

std::size_t file::write_some_at(std::uint64_t offset, boost::asio::const_buffer buf,
                                std::source_location where) {
    const char* what = "weft::fs::file::write_some_at";
    return transfer(checked_fd(what), weft::detail::file_call::op::write,
                    const_cast<void*>(buf.data()), buf.size(), offset, what, path_, where);
}

void file::write_all_at(std::uint64_t offset, boost::asio::const_buffer buf,
                        std::source_location where) {
    const char* what = "weft::fs::file::write_all_at";
    const auto* p = static_cast<const char*>(buf.data());
    std::size_t done = 0;
    while (done < buf.size()) {
        done += transfer(checked_fd(what), weft::detail::file_call::op::write,
                         const_cast<char*>(p + done), buf.size() - done, offset + done, what, path_,
                         where);
    }
}

void file::sync_all(std::source_location where) {
    const char* what = "weft::fs::file::sync_all";
    transfer(checked_fd(what), weft::detail::file_call::op::sync_all, nullptr, 0, 0, what, path_,
             where);
}

void file::sync_data(std::source_location where) {
    const char* what = "weft::fs::file::sync_data";
    transfer(checked_fd(what), weft::detail::file_call::op::sync_data, nullptr, 0, 0, what, path_,
             where);
}

std::uint64_t file::size() const {
    struct stat st {};
    if (::fstat(checked_fd("weft::fs::file::size"), &st) != 0) {
        fail("weft::fs::file::size", path_, errno);
    }
    return static_cast<std::uint64_t>(st.st_size);
}

void file::set_len(std::uint64_t bytes) {
    if (::ftruncate(checked_fd("weft::fs::file::set_len"), static_cast<off_t>(bytes)) != 0) {
        fail("weft::fs::file::set_len", path_, errno);
    }
}

std::uint64_t file::seek(std::uint64_t offset) {
    off_t r = ::lseek(checked_fd("weft::fs::file::seek"), static_cast<off_t>(offset), SEEK_SET);
    if (r < 0) fail("weft::fs::file::seek", path_, errno);
    return static_cast<std::uint64_t>(r);
}

std::uint64_t file::position() const {
    off_t r = ::lseek(checked_fd("weft::fs::file::position"), 0, SEEK_CUR);
    if (r < 0) fail("weft::fs::file::position", path_, errno);
    return static_cast<std::uint64_t>(r);
}

void file::close() {
    if (fd_ < 0) return;
    // The descriptor is released whatever close reports (Linux frees it even on EINTR).
    if (::close(std::exchange(fd_, -1)) != 0 && errno != EINTR) {
        fail("weft::fs::file::close", path_, errno);
    }
}

}  // namespace weft::fs
