// Reading the stack of a parked fiber: a short visit that runs the capture on the fiber's own
// stack (context.hpp's run_on_context_stack), so that the ordinary DWARF unwinder, started
// there, walks the fiber's frames from the point where it switched out.
#pragma once

#include "stack_cache.hpp"

#include <cstddef>

namespace weft::detail {

/// Stack a visit needs below a parked fiber's saved context (the unwinder's frames and the
/// capture's buffer are not on it, but _Unwind_Backtrace's context and callbacks are; the
/// sanitizers make every frame larger). A fiber with less room left is not visited.
inline constexpr std::size_t fiber_backtrace_room =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    64 * 1024;
#else
    16 * 1024;
#endif

/// Why capture_fiber_backtrace wrote nothing.
enum class fiber_backtrace_result { captured, unsupported, no_room };

/// Return addresses of the suspended fiber whose saved context is `ctx` on `stack`, innermost
/// first (the frame that switched out), at most `max`; `n` receives the count. The caller
/// must own the fiber for the whole call: nobody may resume it meanwhile (see
/// task_state_word::try_borrow_parked).
fiber_backtrace_result capture_fiber_backtrace(void* ctx, const fiber_stack& stack, void** out,
                                               std::size_t max, std::size_t& n) noexcept;

}  // namespace weft::detail
