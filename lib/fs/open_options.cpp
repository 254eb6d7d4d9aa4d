// open_options: the flags, validated as Rust's OpenOptions validates them, and open().
#include "file_call.hpp"

#include <weft/fs/file.hpp>
#include <weft/fs/open_options.hpp>

#include <fcntl.h>

#include <stdexcept>
#include <system_error>

namespace weft::fs {

int open_options::flags() const {
    bool writes = write_ || append_;
    if (!read_ && !writes) {
        throw std::invalid_argument(
            "weft::fs::open_options: no access mode (set read, write or append)");
    }
    if (truncate_ && !write_) {
        throw std::invalid_argument("weft::fs::open_options: truncate needs write");
    }
    if (truncate_ && append_) {
        throw std::invalid_argument(
            "weft::fs::open_options: truncate and append exclude each other");
    }
    if ((create_ || create_new_) && !writes) {
        throw std::invalid_argument("weft::fs::open_options: create needs write or append");
    }
    int f = read_ && writes ? O_RDWR : writes ? O_WRONLY : O_RDONLY;
    if (append_) f |= O_APPEND;
    if (create_new_) {
        f |= O_CREAT | O_EXCL;
    } else {
        if (create_) f |= O_CREAT;
        if (truncate_) f |= O_TRUNC;
    }
    return f | O_CLOEXEC;
}

file open_options::open(const std::filesystem::path& path, std::source_location where) const {
    weft::detail::file_call c;
    c.what = weft::detail::file_call::op::open;
    c.path = path.c_str();
    c.flags = flags();
    c.mode = mode_;
    std::int64_t fd = weft::detail::perform(c, "weft::fs::file::open", where);
    if (fd < 0) {
        throw std::filesystem::filesystem_error(
            "weft::fs::file::open", path,
            std::error_code(static_cast<int>(-fd), std::system_category()));
    }
    return file(static_cast<int>(fd), path);
}

}  // namespace weft::fs
