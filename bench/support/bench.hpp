// Plumbing shared by weft_bench's workloads: the JSON result line, verification, RSS reading,
// timing, and the registry each workload file adds itself to.
//
// The output and the checks mirror the peer programs in bench/peers (Tokio, Boost.Fiber,
// Asio) byte for byte where it matters: one line per workload,
//   {"peer":"weft","workload":"...","n":N,"ns_total":T,"ns_per_op":T/N,"extra":{...}}
// and `VERIFICATION FAILED: what` on stderr with a non-zero exit when a checked result is wrong.
#pragma once

#include <weft/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft_bench {

using u64 = std::uint64_t;
using bench_clock = std::chrono::steady_clock;

/// One workload: runs on `rt`, prints its own result line (or fails the process).
using workload_fn = void (*)(weft::runtime& rt);

/// Adds a workload to the registry; a namespace-scope `const registrar` in each workload file
/// does it before main runs. Which files are compiled in decides which rows exist, so a row
/// whose primitives do not exist yet is simply absent (main reports it as skipped).
class registrar {
   public:
    registrar(std::string_view name, workload_fn fn);
};

/// The registered workload called `name`, or nullptr.
workload_fn find_workload(std::string_view name);

/// Prints the result line and flushes, so a later crash cannot eat it.
void emit(std::string_view workload, u64 n, u64 ns_total, std::string_view extra);

/// emit() under another peer name: the file rows' weft_pool and sync programs.
void emit_as(std::string_view peer, std::string_view workload, u64 n, u64 ns_total,
             std::string_view extra);

/// Prints the line the peers print for a row they cannot run.
void emit_skipped(std::string_view workload, std::string_view reason);
void emit_skipped_as(std::string_view peer, std::string_view workload, std::string_view reason);

/// `VERIFICATION FAILED: what` on stderr, then exits with status 1 at once. Exits without
/// running destructors: a check may fail inside a task, on a worker, while the runtime runs.
[[noreturn]] void fail(std::string_view what);

inline void check(bool ok, std::string_view what) {
    if (!ok) fail(what);
}

/// Resident set size of this process in bytes (/proc/self/statm).
u64 rss_bytes();

/// Raises the soft RLIMIT_NOFILE to at least `want` (bounded by the hard limit); returns the
/// soft limit now in force.
u64 raise_nofile_limit(u64 want);

/// Nanoseconds since `t0` on the monotonic clock.
inline u64 ns_since(bench_clock::time_point t0) {
    return static_cast<u64>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(bench_clock::now() - t0).count());
}

}  // namespace weft_bench
