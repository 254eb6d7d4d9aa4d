// See backtrace.hpp.
//
// Invariants:
//   - capture_backtrace allocates nothing and takes no lock: it may run in a signal handler.
//   - symbolise is serialised by one lock: Boost.Stacktrace is built here with
//     BOOST_STACKTRACE_BACKTRACE_FORCE_STATIC, so every thread shares one libbacktrace state
//     (the debug information is read once per process, not once per thread as with Boost's
//     default thread_local state, which also leaks with each thread), and that state is
//     created non-threaded, so only one thread may use it at a time.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#define BOOST_STACKTRACE_USE_BACKTRACE 1
#define BOOST_STACKTRACE_BACKTRACE_FORCE_STATIC 1
#include "backtrace.hpp"

#include <boost/stacktrace/frame.hpp>
#include <boost/stacktrace/safe_dump_to.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

namespace weft::detail {

std::size_t capture_backtrace(void** out, std::size_t max) noexcept {
    // safe_dump_to keeps one slot for a terminating null and counts it in what it returns.
    std::size_t n = boost::stacktrace::safe_dump_to(0, out, max * sizeof(void*));
    return n > 0 ? n - 1 : 0;
}

std::size_t drop_frames_before(void** pcs, std::size_t n, const void* anchor) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        if (pcs[i] == anchor) {
            std::copy(pcs + i, pcs + n, pcs);
            return n - i;
        }
    }
    return n;
}

std::size_t drop_frames_through(void** pcs, std::size_t n, const void* anchor) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        if (pcs[i] == anchor) {
            std::copy(pcs + i + 1, pcs + n, pcs);
            return n - i - 1;
        }
    }
    return n;
}

std::vector<std::string> symboliser::frames(const void* const* pcs, std::size_t n,
                                            bool first_is_exact) {
    static std::mutex mu;
    std::vector<std::string> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto pc = reinterpret_cast<std::uintptr_t>(pcs[i]);
        if (pc == 0) break;
        std::uintptr_t lookup = (i == 0 && first_is_exact) ? pc : pc - 1;
        auto [it, fresh] = cache_.try_emplace(lookup);
        if (fresh) {
            std::lock_guard lock(mu);
            it->second = boost::stacktrace::to_string(
                boost::stacktrace::frame(reinterpret_cast<void*>(lookup)));
            if (it->second.empty()) it->second = fmt::format("{:#x}", pc);
        }
        out.push_back(fmt::format("#{} {}", i, it->second));
    }
    return out;
}

}  // namespace weft::detail
