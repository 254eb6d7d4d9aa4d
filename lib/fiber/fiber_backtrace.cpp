// See fiber_backtrace.hpp.
//
// Invariants:
//   - the fiber is not running anywhere and nobody resumes it while the visit lasts (the
//     caller borrowed it); the visit writes only below its saved context, in the part of the
//     stack a suspended fiber does not use, and leaves the saved context itself untouched;
//   - the visit runs on the calling thread: the capture's frames are that thread's, the
//     fiber's frames above them are only read (by the unwinder).
#include "fiber_backtrace.hpp"

#include "../diagnostics/backtrace.hpp"
#include "context.hpp"

#include <cstdint>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define WEFT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define WEFT_TSAN 1
#endif

namespace weft::detail {
namespace {

struct visit {
    void** out;
    std::size_t max;
    std::size_t n = 0;
#if WEFT_ASAN
    const void* caller_bottom = nullptr;
    std::size_t caller_size = 0;
#endif
};

// Runs on the fiber's stack, called by context.cpp's trampoline.
void capture_on_fiber(void* p) {
    auto* v = static_cast<visit*>(p);
#if WEFT_ASAN
    // A new ASan fiber (no fake stack to restore); remember the caller's stack to go back.
    __sanitizer_finish_switch_fiber(nullptr, &v->caller_bottom, &v->caller_size);
#endif
    v->n = capture_backtrace(v->out, v->max);
#if WEFT_ASAN
    // Null: this short-lived ASan fiber ends here, its fake frames (if any) are dropped.
    __sanitizer_start_switch_fiber(nullptr, v->caller_bottom, v->caller_size);
#endif
}

}  // namespace

fiber_backtrace_result capture_fiber_backtrace(void* ctx, const fiber_stack& stack, void** out,
                                               std::size_t max, std::size_t& n) noexcept {
    n = 0;
    if (!can_run_on_context_stack) return fiber_backtrace_result::unsupported;
    auto sp = reinterpret_cast<std::uintptr_t>(ctx);
    auto bottom = reinterpret_cast<std::uintptr_t>(stack.bottom());
    if (sp < bottom || sp - bottom < fiber_backtrace_room) return fiber_backtrace_result::no_room;
    visit v{out, max};
#if WEFT_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, stack.bottom(), stack.usable());
#endif
#if WEFT_TSAN
    // A fiber of its own for the visit: the calls made on the fiber's stack enter and leave
    // on it, balanced, and the switches order the visit after the caller's earlier accesses.
    void* caller = __tsan_get_current_fiber();
    void* visitor = __tsan_create_fiber(0);
    __tsan_switch_to_fiber(visitor, 0);
#endif
    run_on_context_stack(ctx, &capture_on_fiber, &v);
#if WEFT_TSAN
    __tsan_switch_to_fiber(caller, 0);
    __tsan_destroy_fiber(visitor);
#endif
#if WEFT_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    n = drop_frames_through(out, v.n, run_on_context_stack_return_address());
    return fiber_backtrace_result::captured;
}

}  // namespace weft::detail
