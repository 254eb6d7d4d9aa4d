// The file rows' "sync" program: what a plain synchronous C++ loop gets from the same data set,
// on the calling thread with POSIX calls, one request at a time: open/fstat/read/close per
// small file, pread() for each random block (one in flight), read() of 1 MiB chunks for the
// sequential row. It is the floor every asynchronous row is judged against: concurrency must
// buy more than its own overhead. It lives in weft_bench, not in a program of its own, so it
// shares the checks and the compiler flags of the weft rows (support/files.hpp).
#include "support/files.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace weft_bench::files {
namespace {

int open_or_fail(const std::filesystem::path& p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(fmt::format("open {}: {}", p.string(), std::strerror(errno)));
    return fd;
}

// read() until `len` bytes or end of file; with `known` (the size fstat reported), a short
// read that reaches it ends the loop without a call just to see the 0, as weft::fs::read does
// (a plain loop that trusts fstat; std::fs::read, under tokio::fs::read, makes that call).
std::size_t read_full(int fd, unsigned char* p, std::size_t len, u64& calls,
                      std::size_t known = 0) {
    std::size_t got = 0;
    while (got < len) {
        ssize_t n = ::read(fd, p + got, len - got);
        ++calls;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(fmt::format("read: {}", std::strerror(errno)));
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
        if (known > 0 && got >= known) break;
    }
    return got;
}

void sync_small(const data_set& s) {
    auto t0 = bench_clock::now();
    u64 bytes = 0;
    u64 calls = 0;
    for (u64 i = 0; i < s.small_count; ++i) {
        int fd = open_or_fail(s.small(i));
        struct stat st {};
        if (::fstat(fd, &st) != 0) fail(fmt::format("fstat small/{}: {}", i, std::strerror(errno)));
        // Room for one byte more than fstat said, so that a read coming back short, at the
        // size, shows the file ends there (this loop does not chase files that grow).
        const auto size = static_cast<std::size_t>(st.st_size);
        std::string data(size + 1, '\0');
        std::size_t got =
            read_full(fd, reinterpret_cast<unsigned char*>(data.data()), data.size(), calls, size);
        ::close(fd);
        data.resize(got);
        check_small(i, data);
        bytes += got;
    }
    emit_small("sync", s, ns_since(t0), bytes, "");
}

void sync_random(const data_set& s) {
    const u64 blocks = s.big_bytes / block;
    const u64 per_task = s.random_reads / tasks;
    auto t0 = bench_clock::now();
    int fd = open_or_fail(s.big);
    unsigned char buf[block];
    // The 64 tasks' offset sequences one after another: the same reads, one in flight.
    for (u64 t = 0; t < tasks; ++t) {
        u64 x = seed(t);
        for (u64 r = 0; r < per_task; ++r) {
            const u64 off = next_block(x, blocks) * block;
            ssize_t n = ::pread(fd, buf, block, static_cast<off_t>(off));
            if (n != static_cast<ssize_t>(block)) {
                fail(fmt::format("big: pread at {}: {}", off,
                                 n < 0 ? std::strerror(errno) : "short read"));
            }
            check_block(off, buf, block);
        }
    }
    ::close(fd);
    emit_random("sync", s, ns_since(t0), "");
}

void sync_seq(const data_set& s) {
    std::vector<unsigned char> buf(chunk);  // zeroed, so touched, before the clock starts
    auto t0 = bench_clock::now();
    int fd = open_or_fail(s.big);
    u64 pos = 0;
    u64 calls = 0;
    for (;;) {
        const std::size_t got = read_full(fd, buf.data(), buf.size(), calls);
        check(got % block == 0, "files_seq: a chunk of whole blocks");
        for (std::size_t b = 0; b < got; b += block) check_block(pos + b, buf.data() + b, block);
        pos += got;
        if (got < chunk) break;
    }
    ::close(fd);
    emit_seq("sync", s, ns_since(t0), pos, calls, "");
}

const row_registrar reg_small{"files_small", "sync", &sync_small};
const row_registrar reg_random{"files_random", "sync", &sync_random};
const row_registrar reg_seq{"files_seq", "sync", &sync_seq};

}  // namespace
}  // namespace weft_bench::files
