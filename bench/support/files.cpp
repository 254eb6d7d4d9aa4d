// The file rows' data set, checks, result lines and registry (support/files.hpp).
#include "support/files.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <map>
#include <utility>

namespace weft_bench::files {

namespace {

u64 env_u64(const char* name, u64 fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr) return fallback;
    std::string_view s = v;
    u64 out = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc{} || end != s.data() + s.size()) {
        fail(fmt::format("{} is not a number: {}", name, s));
    }
    return out;
}

double mb_s(u64 bytes, u64 ns) {
    return static_cast<double>(bytes) / 1e6 / (static_cast<double>(ns) / 1e9);
}

std::map<std::pair<std::string, std::string>, row_fn, std::less<>>& registry() {
    static std::map<std::pair<std::string, std::string>, row_fn, std::less<>> r;
    return r;
}

}  // namespace

data_set from_env() {
    const char* dir = std::getenv("WEFT_FILES_DIR");
    if (dir == nullptr) fail("WEFT_FILES_DIR is not set (scripts/bench --files sets it)");
    data_set s;
    s.small_dir = std::filesystem::path(dir) / "small";
    s.big = std::filesystem::path(dir) / "big";
    s.small_count = env_u64("WEFT_FILES_SMALL_COUNT", 10'000);
    s.big_bytes = env_u64("WEFT_FILES_BIG_MIB", 1024) << 20;
    s.random_reads = env_u64("WEFT_FILES_RANDOM_READS", 131'072);
    const char* cache = std::getenv("WEFT_FILES_CACHE");
    std::string_view c = cache == nullptr ? "" : cache;
    s.cache = c == "warm" || c == "cold" ? std::string(c) : "unspecified";
    check(s.small_count > 0 && s.big_bytes > 0,
          "WEFT_FILES_SMALL_COUNT and WEFT_FILES_BIG_MIB > 0");
    check(s.random_reads > 0 && s.random_reads % tasks == 0,
          "WEFT_FILES_RANDOM_READS: a positive multiple of 64");
    return s;
}

void check_small(u64 i, std::string_view data) {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    if (data.size() != block || word_at(p) != i || static_cast<u64>(p[block - 1]) != (i & 0xff)) {
        fail(fmt::format("small/{}: {} bytes, not the expected pattern", i, data.size()));
    }
}

void check_block(u64 off, const unsigned char* p, std::size_t len) {
    const std::size_t last = len - 8;
    if (word_at(p) != off || word_at(p + last) != off + last) {
        fail(fmt::format("big: the block read at offset {} holds other bytes", off));
    }
}

void emit_small(std::string_view peer, const data_set& s, u64 ns, u64 bytes,
                std::string_view more) {
    check(bytes == s.small_count * block, "files_small: bytes read");
    emit_as(peer, "files_small", s.small_count, ns,
            fmt::format("\"files\":{},\"tasks\":{},\"bytes\":{},\"files_s\":{:.0f},\"mb_s\":{:.1f},"
                        "\"cache\":\"{}\"{}",
                        s.small_count, tasks, bytes,
                        static_cast<double>(s.small_count) / (static_cast<double>(ns) / 1e9),
                        mb_s(bytes, ns), s.cache, more));
}

void emit_random(std::string_view peer, const data_set& s, u64 ns, std::string_view more) {
    const u64 n = s.random_reads;
    emit_as(peer, "files_random", n, ns,
            fmt::format("\"reads\":{},\"tasks\":{},\"block\":{},\"file_bytes\":{},\"bytes\":{},"
                        "\"mb_s\":{:.1f},\"cache\":\"{}\"{}",
                        n, tasks, block, s.big_bytes, n * block, mb_s(n * block, ns), s.cache,
                        more));
}

void emit_seq(std::string_view peer, const data_set& s, u64 ns, u64 bytes, u64 read_calls,
              std::string_view more) {
    check(bytes == s.big_bytes, "files_seq: bytes read");
    emit_as(peer, "files_seq", bytes >> 20, ns,
            fmt::format("\"bytes\":{},\"chunk\":{},\"read_calls\":{},\"mb_s\":{:.1f},"
                        "\"cache\":\"{}\"{}",
                        bytes, chunk, read_calls, mb_s(bytes, ns), s.cache, more));
}

row_registrar::row_registrar(std::string_view row, std::string_view program, row_fn fn) {
    registry().emplace(std::pair{std::string(row), std::string(program)}, fn);
}

row_fn find_row(std::string_view row, std::string_view program) {
    auto& r = registry();
    auto it = r.find(std::pair{std::string(row), std::string(program)});
    return it == r.end() ? nullptr : it->second;
}

}  // namespace weft_bench::files
