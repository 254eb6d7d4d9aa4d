#include "overflow_report.hpp"

#include "stack_cache.hpp"

#include "../scheduler/thread_context.hpp"
#include "../scheduler/worker.hpp"

#include <weft/detail/task_header.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace weft::detail {
namespace {

struct sigaction previous_segv {};
struct sigaction previous_bus {};

// Faults a little below the guard page still count: a large frame can jump past it.
constexpr std::size_t below_guard_slack = 64 * 1024;

void on_fault(int sig, siginfo_t* info, void* uctx) {
    worker* w = this_thread_context().w;
    task_header* t = w ? w->current() : nullptr;
    if (t && t->stack_base() && has_guard_page(t->stack_kind())) {
        auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
        auto base = reinterpret_cast<std::uintptr_t>(t->stack_base());
        long page = ::sysconf(_SC_PAGESIZE);
        if (addr + below_guard_slack >= base && addr < base + static_cast<std::uintptr_t>(page)) {
            report_stack_overflow(t, false);
        }
    }
    // Not ours: put the previous disposition back and let the fault happen again under it.
    const struct sigaction& prev = sig == SIGSEGV ? previous_segv : previous_bus;
    if (prev.sa_flags & SA_SIGINFO) {
        if (prev.sa_sigaction) {
            prev.sa_sigaction(sig, info, uctx);
            return;
        }
    }
    ::sigaction(sig, &prev, nullptr);
}

}  // namespace

void ensure_overflow_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_sigaction = &on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGSEGV, &sa, &previous_segv);
        ::sigaction(SIGBUS, &sa, &previous_bus);
    });
    thread_local struct alt_stack {
        void* mem = nullptr;
        alt_stack() {
            stack_t cur{};
            if (::sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;
            constexpr std::size_t size = 64 * 1024;
            mem = std::malloc(size);
            stack_t ss{};
            ss.ss_sp = mem;
            ss.ss_size = size;
            ::sigaltstack(&ss, nullptr);
        }
        ~alt_stack() {
            if (!mem) return;
            stack_t ss{};
            ss.ss_flags = SS_DISABLE;
            ::sigaltstack(&ss, nullptr);
            std::free(mem);
        }
    } alt;
    (void)alt;
}

void report_stack_overflow(const task_header* t, bool at_switch) noexcept {
    char buf[1024];
    const char* name = t->name().empty() ? "(unnamed)" : t->name().c_str();
    std::size_t usable =
        t->stack_len() -
        (has_guard_page(t->stack_kind()) ? static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0);
    int n = std::snprintf(
        buf, sizeof buf,
        "weft: stack overflow in task %llu '%s' spawned at %s:%u (%s); its stack is %zu bytes%s. "
        "Give it more with weft::task_builder().stack_size(...) or builder::stack_size(...).\n",
        static_cast<unsigned long long>(t->id()), name, t->spawned_at().file_name(),
        static_cast<unsigned>(t->spawned_at().line()), t->spawned_at().function_name(), usable,
        at_switch ? " (detected at a switch: it has no guard page, so memory below the "
                    "stack may be corrupted)"
                  : "");
    if (n > 0) {
        ssize_t r =
            ::write(STDERR_FILENO, buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf - 1)));
        (void)r;
    }
    std::abort();
}

}  // namespace weft::detail
