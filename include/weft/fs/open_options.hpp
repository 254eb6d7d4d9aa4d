// open_options: how fs::file::open opens a file (Tokio's OpenOptions, std::fs::OpenOptions).
#pragma once

#include <filesystem>
#include <source_location>

namespace weft::fs {

class file;

/// Which access and creation mode a file is opened with. Each setter returns *this:
///
///     auto log = weft::fs::open_options().append(true).create(true).open("app.log");
///
/// The combinations Rust's OpenOptions refuses are refused here, by open(), with
/// std::invalid_argument naming the conflict: no access mode at all; truncate without write;
/// create or create_new without write or append; truncate together with append.
class open_options {
   public:
    /// Read access.
    open_options& read(bool on) noexcept {
        read_ = on;
        return *this;
    }
    /// Write access.
    open_options& write(bool on) noexcept {
        write_ = on;
        return *this;
    }
    /// Every write goes to the end of the file (O_APPEND); implies write access.
    open_options& append(bool on) noexcept {
        append_ = on;
        return *this;
    }
    /// An existing file is truncated to 0 bytes (needs write).
    open_options& truncate(bool on) noexcept {
        truncate_ = on;
        return *this;
    }
    /// Creates the file if it does not exist (needs write or append).
    open_options& create(bool on) noexcept {
        create_ = on;
        return *this;
    }
    /// Creates the file, failing with file_exists if it exists (O_EXCL; create and truncate
    /// are then ignored).
    open_options& create_new(bool on) noexcept {
        create_new_ = on;
        return *this;
    }
    /// Permission bits of a created file, before the umask (default 0666).
    open_options& mode(unsigned bits) noexcept {
        mode_ = bits;
        return *this;
    }

    /// Opens `path` with these options: see file::open for where it runs and its errors.
    /// **Cancellation**: a cancellation point; an open the kernel cancelled opened nothing,
    /// one that completed as the abort landed is returned (the next cancellation point
    /// throws).
    file open(const std::filesystem::path& path,
              std::source_location where = std::source_location::current()) const;

    /// The open(2) flags these options stand for (O_CLOEXEC is always added).
    /// std::invalid_argument for the refused combinations above.
    [[nodiscard]] int flags() const;
    /// The permission bits given to mode().
    [[nodiscard]] unsigned permissions() const noexcept { return mode_; }

   private:
    bool read_ = false;
    bool write_ = false;
    bool append_ = false;
    bool truncate_ = false;
    bool create_ = false;
    bool create_new_ = false;
    unsigned mode_ = 0666;
};

}  // namespace weft::fs
