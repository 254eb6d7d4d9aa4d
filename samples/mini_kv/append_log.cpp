#include "append_log.hpp"

#include "commands.hpp"

#include <weft/fs.hpp>
#include <weft/time.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace kv {

namespace {

struct file_closer {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

// [log_writer]
/// The writer task: takes whatever records are queued (up to a batch), writes them with one
/// call on the blocking pool (file I/O would otherwise stall a worker and every task on it),
/// and repeats until every sender is gone and the channel is drained.
void write_records(weft::mpsc::receiver<std::string> rx, file_ptr file) {
    std::vector<std::string> batch;
    std::string chunk;
    while (rx.recv_many(batch, 256) > 0) {
        chunk.clear();
        for (const auto& r : batch) chunk += r;
        batch.clear();
        weft::offload([&] {
            // fflush hands the bytes to the kernel: they survive a crash of this process
            // (not of the machine: that would take fsync, Redis's appendfsync).
            if (std::fwrite(chunk.data(), 1, chunk.size(), file.get()) != chunk.size() ||
                std::fflush(file.get()) != 0) {
                std::fprintf(stderr, "mini_kv: writing the append-only log: %s\n",
                             std::strerror(errno));
            }
        });
    }
}
// [log_writer]

}  // namespace

append_log::append_log(std::filesystem::path path, std::size_t capacity) {
    file_ptr file(std::fopen(path.c_str(), "ab"));
    if (!file)
        throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
    auto [tx, rx] = weft::mpsc::channel<std::string>(capacity);
    tx_.emplace(std::move(tx));
    writer_ = weft::task_builder()
                  .name("mini_kv append-only log")
                  .spawn([rx = std::move(rx), f = std::move(file)]() mutable {
                      write_records(std::move(rx), std::move(f));
                  });
}

append_log::~append_log() {
    if (writer_.valid()) close();
}

void append_log::record_set(std::string_view key, std::string_view value,
                            clock::time_point expires) {
    if (expires == never) {
        std::array<std::string_view, 3> argv{"SET", key, value};
        tx_->send(resp::encode_command(argv));
        return;
    }
    // The deadline as Unix time (PXAT): a relative EX would restart on every replay.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(expires - weft::time::now());
    auto at = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch()) +
              left;
    std::string at_ms = std::to_string(at.count());
    std::array<std::string_view, 5> argv{"SET", key, value, "PXAT", at_ms};
    tx_->send(resp::encode_command(argv));
}

void append_log::record_del(std::string_view key) {
    std::array<std::string_view, 2> argv{"DEL", key};
    tx_->send(resp::encode_command(argv));
}

void append_log::close() {
    tx_.reset();  // the last sender: the writer drains the channel and returns
    try {
        writer_.join();
    } catch (const weft::join_error& e) {
        std::fprintf(stderr, "mini_kv: the append-only log writer failed: %s\n", e.what());
    }
}

std::size_t replay(const std::filesystem::path& path, store& db, const resp::limits& limits) {
    if (!std::filesystem::exists(path)) return 0;
    std::string data = weft::fs::read(path);
    std::string_view in = data;
    resp::parser parser(limits);
    std::vector<std::string> argv;
    std::string ignored_reply;
    std::size_t n = 0;
    resp::result r;
    while ((r = parser.parse(in, argv)) == resp::result::command) {
        execute(argv, db, ignored_reply);
        ignored_reply.clear();
        ++n;
    }
    if (r != resp::result::incomplete || !in.empty() || !parser.between_requests()) {
        std::fprintf(stderr, "mini_kv: ignoring the end of %s (a truncated or damaged record)\n",
                     path.c_str());
    }
    return n;
}

}  // namespace kv
