// See stall_capture.hpp.
#include "stall_capture.hpp"

#include "../diagnostics/backtrace.hpp"
#include "../fiber/context.hpp"
#include "thread_context.hpp"
#include "worker.hpp"

#include <signal.h>
#include <ucontext.h>

#include <cerrno>
#include <set>
#include <thread>

namespace weft::detail {
namespace {

void on_stall_signal(int, siginfo_t*, void* uctx) {
    const int saved_errno = errno;
    // safety: this_thread_context() reads a thread_local of libweft, in the static TLS block
    // (libweft is loaded with the program, not dlopen'ed): no allocation on first use.
    if (worker* w = this_thread_context().w) {
        const void* at = nullptr;
#if defined(__x86_64__) && defined(__linux__)
        at = reinterpret_cast<const void*>(
            static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RIP]);
#else
        (void)uctx;
#endif
        w->stall.on_signal(w->running_id.load(std::memory_order_relaxed), at);
    }
    errno = saved_errno;
}

std::mutex install_mu;

}  // namespace

void stall_capture::attach() noexcept {
    std::lock_guard lock(thread_mu_);
    thread_ = ::pthread_self();
    has_thread_ = true;
}

void stall_capture::detach() noexcept {
    std::lock_guard lock(thread_mu_);
    has_thread_ = false;
}

void stall_capture::on_signal(task_id running, const void* interrupted_at) noexcept {
    int expected = requested;
    // Ordering: acquire pairs with request()'s release store of `requested`, so for_task_ is
    // the monitor's.
    if (!phase_.compare_exchange_strong(expected, capturing, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        return;  // a late or stray signal
    }
    std::size_t n = 0;
    // Interrupted inside the fiber switch, the unwinder would read the half-switched stack
    // with the wrong rules (the switch's assembly describes no push): no stack this time.
    if (running == for_task_.load(std::memory_order_relaxed) &&
        !in_switch_context(interrupted_at)) {
        n = capture_backtrace(pcs_, slots);
        // The handler's own frames and the kernel's signal frame come first: keep the stack
        // from the interrupted instruction on (all of it if that is not found).
        if (interrupted_at) n = drop_frames_before(pcs_, n, interrupted_at);
    }
    n_ = n;
    // Ordering: release publishes pcs_/n_ to request()'s acquire load of `done`.
    phase_.store(done, std::memory_order_release);
}

std::vector<void*> stall_capture::request(int signo, task_id id, std::chrono::milliseconds limit) {
    if (phase_.load(std::memory_order_acquire) != idle) return {};  // an earlier one is stuck
    for_task_.store(id, std::memory_order_relaxed);
    phase_.store(requested, std::memory_order_release);
    {
        std::lock_guard lock(thread_mu_);
        // A default disposition of a real-time signal ends the process: signal only while
        // our handler is the installed one.
        if (!has_thread_ || !stall_handler_installed(signo) ||
            ::pthread_kill(thread_, signo) != 0) {
            phase_.store(idle, std::memory_order_relaxed);
            return {};
        }
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int p = phase_.load(std::memory_order_acquire);
        if (p == done) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            int expected = requested;
            // Not delivered yet (the signal is blocked on that thread, or the thread is not
            // scheduled): withdraw; a late delivery then finds idle.
            if (phase_.compare_exchange_strong(expected, idle, std::memory_order_acq_rel)) {
                return {};
            }
            // The handler is running: it is short and bounded, wait for it.
            if (expected == capturing) {
                std::this_thread::yield();
                continue;
            }
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::vector<void*> out(pcs_, pcs_ + n_);
    phase_.store(idle, std::memory_order_release);
    return out;
}

bool install_stall_handler(int signo) {
    static std::set<int> installed;
    std::lock_guard lock(install_mu);
    if (installed.count(signo)) return true;
    struct sigaction cur {};
    if (::sigaction(signo, nullptr, &cur) != 0) return false;
    const bool is_default = !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL;
    if (!is_default) return false;  // the program's own: not ours to replace
    // Warm the unwinder up off the signal path: its first use may initialise state.
    void* warm[4];
    (void)capture_backtrace(warm, 4);
    struct sigaction sa {};
    sa.sa_sigaction = &on_stall_signal;
    // SA_ONSTACK: the handler runs on the worker thread's alternate stack (installed for
    // the overflow report), not on the task's stack, which may be nearly full; the unwinder
    // still reaches the task's frames through the kernel's signal frame. SA_RESTART: a
    // system call the task was blocked in resumes instead of failing with EINTR.
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(signo, &sa, nullptr) != 0) return false;
    installed.insert(signo);
    return true;
}

bool stall_handler_installed(int signo) noexcept {
    struct sigaction cur {};
    if (::sigaction(signo, nullptr, &cur) != 0) return false;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == &on_stall_signal;
}

}  // namespace weft::detail
