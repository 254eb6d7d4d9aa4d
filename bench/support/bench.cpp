// weft_bench plumbing: registry, result lines, verification exit, RSS, file limit.
#include "support/bench.hpp"

#include <fmt/format.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

namespace weft_bench {

namespace {
// A function-local static: registrars in other files run during static initialisation, in an
// unspecified order relative to this file.
std::map<std::string, workload_fn, std::less<>>& registry() {
    static std::map<std::string, workload_fn, std::less<>> r;
    return r;
}
}  // namespace

registrar::registrar(std::string_view name, workload_fn fn) {
    registry().emplace(std::string(name), fn);
}

workload_fn find_workload(std::string_view name) {
    auto& r = registry();
    auto it = r.find(name);
    return it == r.end() ? nullptr : it->second;
}

void emit(std::string_view workload, u64 n, u64 ns_total, std::string_view extra) {
    emit_as("weft", workload, n, ns_total, extra);
}

void emit_as(std::string_view peer, std::string_view workload, u64 n, u64 ns_total,
             std::string_view extra) {
    const double per = static_cast<double>(ns_total) / static_cast<double>(n);
    std::string line = fmt::format(
        "{{\"peer\":\"{}\",\"workload\":\"{}\",\"n\":{},\"ns_total\":{},\"ns_per_op\":{:.2f},"
        "\"extra\":{{{}}}}}\n",
        peer, workload, n, ns_total, per, extra);
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
}

void emit_skipped(std::string_view workload, std::string_view reason) {
    emit_skipped_as("weft", workload, reason);
}

void emit_skipped_as(std::string_view peer, std::string_view workload, std::string_view reason) {
    std::string line =
        fmt::format("{{\"peer\":\"{}\",\"workload\":\"{}\",\"skipped\":true,\"reason\":\"{}\"}}\n",
                    peer, workload, reason);
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
}

void fail(std::string_view what) {
    std::fflush(stdout);
    std::string line = fmt::format("VERIFICATION FAILED: {}\n", what);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    std::_Exit(1);
}

u64 rss_bytes() {
    std::ifstream f("/proc/self/statm");
    u64 size = 0;
    u64 resident = 0;
    f >> size >> resident;
    return resident * static_cast<u64>(::sysconf(_SC_PAGESIZE));
}

u64 raise_nofile_limit(u64 want) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
    if (lim.rlim_cur < want) {
        rlim_t target = want;
        if (lim.rlim_max != RLIM_INFINITY && target > lim.rlim_max) target = lim.rlim_max;
        lim.rlim_cur = target;
        ::setrlimit(RLIMIT_NOFILE, &lim);
        ::getrlimit(RLIMIT_NOFILE, &lim);
    }
    return static_cast<u64>(lim.rlim_cur);
}

}  // namespace weft_bench
