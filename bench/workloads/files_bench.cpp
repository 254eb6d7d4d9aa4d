// The file rows on weft (scripts/bench --files): the "weft" program on the io_uring backend
// and "weft_pool" on the blocking-pool backend, each on a runtime of its own with 2 workers,
// built before the clock starts. Same data set, offsets and checks as the Tokio peer and the
// sync program (support/files.hpp). Each line's extra.backend is the backend the runtime
// actually used (weft::fs::backend()): a kernel that refuses io_uring gets the thread pool,
// and the "weft" row then says so instead of passing the pool off as io_uring.
//   files_small:  64 tasks take file indices from one atomic; weft::fs::read per file.
//   files_random: 64 tasks, each with its own weft::fs::file on `big`, read_exact_at of 4 KiB
//                 at the xorshift offsets.
//   files_seq:    one task, read_some_at of 1 MiB chunks until it returns 0.
#include "support/files.hpp"

#include <weft/fs.hpp>
#include <weft/runtime.hpp>
#include <weft/task.hpp>

#include <boost/asio/buffer.hpp>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <string>
#include <vector>

namespace weft_bench::files {
namespace {

using weft::fs::io_backend;

weft::runtime make_runtime(io_backend b) {
    return weft::builder::multi_thread().worker_threads(2).file_io(b).build();
}

std::string backend_extra(io_backend used) {
    return fmt::format(",\"backend\":\"{}\"",
                       used == io_backend::io_uring ? "io_uring" : "thread_pool");
}

struct outcome {
    u64 ns = 0;
    u64 bytes = 0;
    u64 calls = 0;
    io_backend used = io_backend::thread_pool;
};

void small_on(io_backend want, const char* peer, const data_set& s) {
    weft::runtime rt = make_runtime(want);
    outcome r = rt.block_on([&s] {
        outcome o;
        o.used = weft::fs::backend();
        std::atomic<u64> next{0};
        auto t0 = bench_clock::now();
        std::vector<weft::join_handle<u64>> hs;
        hs.reserve(tasks);
        for (u64 t = 0; t < tasks; ++t) {
            hs.push_back(weft::spawn([&s, &next] {
                u64 bytes = 0;
                for (;;) {
                    const u64 i = next.fetch_add(1, std::memory_order_relaxed);
                    if (i >= s.small_count) break;
                    std::string data = weft::fs::read(s.small(i));
                    check_small(i, data);
                    bytes += data.size();
                }
                return bytes;
            }));
        }
        for (auto& h : hs) o.bytes += h.join();
        o.ns = ns_since(t0);
        return o;
    });
    emit_small(peer, s, r.ns, r.bytes, backend_extra(r.used));
}

void random_on(io_backend want, const char* peer, const data_set& s) {
    weft::runtime rt = make_runtime(want);
    outcome r = rt.block_on([&s] {
        outcome o;
        o.used = weft::fs::backend();
        const u64 blocks = s.big_bytes / block;
        const u64 per_task = s.random_reads / tasks;
        std::atomic<u64> done{0};
        auto t0 = bench_clock::now();
        std::vector<weft::join_handle<void>> hs;
        hs.reserve(tasks);
        for (u64 t = 0; t < tasks; ++t) {
            hs.push_back(weft::spawn([&s, &done, t, blocks, per_task] {
                weft::fs::file f = weft::fs::file::open(s.big);
                std::array<unsigned char, block> buf{};
                u64 x = seed(t);
                for (u64 i = 0; i < per_task; ++i) {
                    const u64 off = next_block(x, blocks) * block;
                    f.read_exact_at(off, boost::asio::buffer(buf));
                    check_block(off, buf.data(), buf.size());
                    done.fetch_add(1, std::memory_order_relaxed);
                }
            }));
        }
        for (auto& h : hs) h.join();
        o.ns = ns_since(t0);
        check(done.load() == s.random_reads, "files_random: reads done");
        return o;
    });
    emit_random(peer, s, r.ns, backend_extra(r.used));
}

void seq_on(io_backend want, const char* peer, const data_set& s) {
    weft::runtime rt = make_runtime(want);
    outcome r = rt.block_on([&s] {
        outcome o;
        o.used = weft::fs::backend();
        std::vector<unsigned char> buf(chunk);  // zeroed, so touched, before the clock starts
        auto t0 = bench_clock::now();
        weft::fs::file f = weft::fs::file::open(s.big);
        for (;;) {
            // Fill the whole chunk (a read may return less), as the other programs do.
            std::size_t got = 0;
            while (got < chunk) {
                const std::size_t n = f.read_some_at(
                    o.bytes + got, boost::asio::buffer(buf.data() + got, chunk - got));
                ++o.calls;
                if (n == 0) break;
                got += n;
            }
            check(got % block == 0, "files_seq: a chunk of whole blocks");
            for (std::size_t b = 0; b < got; b += block) {
                check_block(o.bytes + b, buf.data() + b, block);
            }
            o.bytes += got;
            if (got < chunk) break;
        }
        o.ns = ns_since(t0);
        return o;
    });
    emit_seq(peer, s, r.ns, r.bytes, r.calls, backend_extra(r.used));
}

void small_uring(const data_set& s) { small_on(io_backend::io_uring, "weft", s); }
void small_pool(const data_set& s) { small_on(io_backend::thread_pool, "weft_pool", s); }
void random_uring(const data_set& s) { random_on(io_backend::io_uring, "weft", s); }
void random_pool(const data_set& s) { random_on(io_backend::thread_pool, "weft_pool", s); }
void seq_uring(const data_set& s) { seq_on(io_backend::io_uring, "weft", s); }
void seq_pool(const data_set& s) { seq_on(io_backend::thread_pool, "weft_pool", s); }

const row_registrar reg_small_uring{"files_small", "weft", &small_uring};
const row_registrar reg_small_pool{"files_small", "weft_pool", &small_pool};
const row_registrar reg_random_uring{"files_random", "weft", &random_uring};
const row_registrar reg_random_pool{"files_random", "weft_pool", &random_pool};
const row_registrar reg_seq_uring{"files_seq", "weft", &seq_uring};
const row_registrar reg_seq_pool{"files_seq", "weft_pool", &seq_pool};

}  // namespace
}  // namespace weft_bench::files
