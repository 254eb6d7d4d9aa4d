// The append-only log (--aof FILE): every write, as a RESP command, appended to a file by one
// background task, and replayed at startup. Connection tasks hand records over through a
// bounded mpsc channel, so they never touch the file: the file I/O is one writer's, batched,
// and when the disk falls behind the channel fills and writers wait (backpressure) instead of
// memory growing without bound.
#pragma once

#include "resp.hpp"
#include "store.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace kv {

class append_log {
   public:
    /// Opens (creates) `path` for appending and starts the writer task. Call from a task.
    explicit append_log(std::filesystem::path path, std::size_t capacity = 1024);
    append_log(const append_log&) = delete;
    append_log& operator=(const append_log&) = delete;
    ~append_log();

    /// Log records. Suspend while the channel is full.
    void record_set(std::string_view key, std::string_view value, clock::time_point expires);
    void record_del(std::string_view key);

    /// Closes the channel and waits until the writer has written everything sent before.
    void close();

   private:
    std::optional<weft::mpsc::sender<std::string>> tx_;
    weft::join_handle<void> writer_;
};

/// Applies the commands logged in `path` (if it exists) to `db`; returns how many. A
/// truncated last record (a crash mid-write) is ignored, as Redis's aof-load-truncated does.
std::size_t replay(const std::filesystem::path& path, store& db, const resp::limits& limits);

}  // namespace kv
