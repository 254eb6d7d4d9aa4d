// fs::read / fs::write: whole-file I/O that does not block a worker (tokio::fs::read, write).
#pragma once

#include <filesystem>
#include <source_location>
#include <string>
#include <string_view>

namespace weft::fs {

/// Reads the whole file at `path`. In a task only the task waits: on the io_uring backend
/// (builder::file_io) its worker submits open and reads to its own ring, on the thread_pool
/// backend the whole read is one job on the blocking pool; on any other thread that may
/// block it runs inline. Errors: std::filesystem::filesystem_error naming the path (and the
/// errno, e.g. no_such_file_or_directory). From an Asio handler on a worker:
/// std::logic_error.
/// **Cancellation**: a cancellation point; an abort while the read runs lets the call in
/// flight finish (or, on io_uring, cancels it where the kernel can), discards the data and
/// throws task_cancelled.
std::string read(const std::filesystem::path& path,
                 std::source_location where = std::source_location::current());

/// Creates or truncates the file at `path` and writes `data` to it. Runs as read() does;
/// errors as read().
/// **Cancellation**: a cancellation point before the write starts; an abort while it runs
/// waits for it to finish (the file is then written) and throws task_cancelled.
void write(const std::filesystem::path& path, std::string_view data,
           std::source_location where = std::source_location::current());

}  // namespace weft::fs
