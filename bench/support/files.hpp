// The data set and the checks of the file rows (scripts/bench --files), shared by weft_bench's
// weft, weft_pool and sync programs so that all three read the same offsets and verify the
// same bytes as the Tokio peer (bench/peers/tokio/src/main.rs, "file workloads").
//
// Data set (bench/tools/files_dataset.py writes it): small/<i> for i < WEFT_FILES_SMALL_COUNT
// is 4,096 bytes, the u64 i (little-endian) then 4,088 bytes of (i & 0xff); `big` is
// WEFT_FILES_BIG_MIB MiB of u64 words, each holding its own byte offset.
//
// The file rows run only when named, and only the programs listed in WEFT_FILES_RUN
// (default "weft,weft_pool,sync"): scripts/bench runs each program in a process of its own, so
// a cold row can be preceded by a drop of the page cache.
#pragma once

#include "support/bench.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

namespace weft_bench::files {

inline constexpr u64 tasks = 64;                // concurrent tasks in files_small and files_random
inline constexpr u64 block = 4096;              // size of a small file and of a random read
inline constexpr std::size_t chunk = 1u << 20;  // files_seq's read size

// The words of the data set are little-endian; so is every machine this runs on so far.
static_assert(std::endian::native == std::endian::little);

struct data_set {
    std::filesystem::path small_dir;
    std::filesystem::path big;
    u64 small_count = 0;
    u64 big_bytes = 0;
    u64 random_reads = 0;
    std::string cache;  // "warm", "cold" or "unspecified": only the harness knows

    [[nodiscard]] std::filesystem::path small(u64 i) const { return small_dir / std::to_string(i); }
};

/// The data set named by the environment (WEFT_FILES_DIR, WEFT_FILES_SMALL_COUNT,
/// WEFT_FILES_BIG_MIB, WEFT_FILES_RANDOM_READS, WEFT_FILES_CACHE); fails on a bad value.
data_set from_env();

inline u64 word_at(const unsigned char* p) {
    u64 v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}

/// Fails unless `data` is small/<i>'s content.
void check_small(u64 i, std::string_view data);

/// Fails unless the `len` bytes at `p` are those of `big` at offset `off` (first and last word).
void check_block(u64 off, const unsigned char* p, std::size_t len);

/// files_random's offsets: xorshift64 seeded by the task index, as in the Tokio peer.
inline u64 seed(u64 task) { return (task + 1) * 0x9E37'79B9'7F4A'7C15ull; }
inline u64 next_block(u64& x, u64 blocks) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x % blocks;
}

/// The result lines, the same keys for every program; `more` is appended to extra (e.g. the
/// backend weft actually used).
void emit_small(std::string_view peer, const data_set& s, u64 ns, u64 bytes, std::string_view more);
void emit_random(std::string_view peer, const data_set& s, u64 ns, std::string_view more);
void emit_seq(std::string_view peer, const data_set& s, u64 ns, u64 bytes, u64 read_calls,
              std::string_view more);

/// One program's run of one file row.
using row_fn = void (*)(const data_set&);

/// Adds (row, program) to the file rows' registry, as registrar does for the other rows.
class row_registrar {
   public:
    row_registrar(std::string_view row, std::string_view program, row_fn fn);
};

/// The registered function of `program` for `row`, or nullptr (its source is not built).
row_fn find_row(std::string_view row, std::string_view program);

}  // namespace weft_bench::files
