// The fiber switch: save the callee-saved registers on the current stack, move to another
// stack, restore its registers. On x86-64 (System V) weft has its own, in context.cpp; it
// differs from Boost.Context's jump_fcontext in two ways that about halve a switch's cost
// (the round trip measured, with the machine, in docs/performance.md):
//   - no save/restore of MXCSR and the x87 control word. weft does not promise to carry a
//     task's floating-point environment (rounding mode, exception masks) across its own
//     suspension points; a task that changes them must restore them before it suspends,
//     as with any code that calls into a runtime;
//   - a direct call inside libweft instead of a call through the PLT into
//     libboost_context.so.
// Elsewhere it forwards to Boost.Context's fcontext.
#pragma once

#include <cstddef>

namespace weft::detail {

/// What arrives with a switch: the context just left (to switch back to it later) and the
/// pointer the switcher passed along.
struct context_transfer {
    void* from;
    void* data;
};

using context_entry = void (*)(context_transfer) noexcept;

/// A context that, when first switched to, calls `entry` on the stack ending at `stack_top`
/// (`size` bytes below it are usable). `entry` must never return.
void* make_context(void* stack_top, std::size_t size, context_entry entry) noexcept;

/// Saves the running context, switches to `to` (from make_context or a previous switch) and
/// hands it `data`. Returns when something switches back here.
context_transfer switch_context(void* to, void* data) noexcept;

/// Whether run_on_context_stack works on this platform (x86-64 Linux, weft's own switch).
inline constexpr bool can_run_on_context_stack =
#if defined(__x86_64__) && defined(__linux__)
    true;
#else
    false;
#endif

/// Calls `fn(arg)` on the stack of the suspended context `ctx` (a value switch_context saved),
/// just below the registers saved there, and returns when `fn` returns; `ctx` is left as it
/// was, so it can later be resumed as usual. To a DWARF unwinder started inside `fn` the call
/// looks as if `ctx`'s own code had made it: its frames continue with those of the code that
/// switched out. That is how a parked task's stack is read (lib/fiber/fiber_backtrace.cpp).
/// The caller must own `ctx` for the duration (nobody may resume it meanwhile) and make sure
/// its stack has room for `fn`. The sanitizer annotations are the caller's. Only where
/// can_run_on_context_stack; elsewhere it does nothing.
void run_on_context_stack(void* ctx, void (*fn)(void*), void* arg) noexcept;

/// Whether `pc` is inside the switch itself, whose few instructions have no unwind
/// information for the moment between its pushes and its pops (the stack pointer is moving
/// between two stacks): an unwinder must not start there (stall_capture checks it).
bool in_switch_context(const void* pc) noexcept;

/// The return address of the call run_on_context_stack makes: the frame an unwinder started
/// inside `fn` meets just before it reaches `ctx`'s own frames (nullptr where unsupported).
const void* run_on_context_stack_return_address() noexcept;

}  // namespace weft::detail
