// See context.hpp.
#include "context.hpp"

#include <cstdint>

#if defined(__x86_64__) && defined(__linux__)

// Stack of a saved context, from its saved stack pointer upwards:
//   r12 r13 r14 r15 rbx rbp   callee-saved registers (System V)
//   resume address            where the switch continues (popped, then jumped to: a `ret`
//                             would always miss the return-address predictor)
// A new context's r12 holds its entry function and its resume address is
// weft_context_start, which calls r12 with the transfer in rdi/rsi on a 16-byte aligned stack.
//
// weft_switch_context(to = rdi, data = rsi) returns {from, data} in rax:rdx, and also leaves
// them in rdi:rsi for weft_context_start.
asm(R"(
    .text
    .globl  weft_switch_context
    .hidden weft_switch_context
    .type   weft_switch_context, @function
    .p2align 4
weft_switch_context:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r15
    pushq   %r14
    pushq   %r13
    pushq   %r12
    movq    %rsp, %rax
    movq    %rdi, %rsp
    popq    %r12
    popq    %r13
    popq    %r14
    popq    %r15
    popq    %rbx
    popq    %rbp
    popq    %r8
    movq    %rsi, %rdx
    movq    %rax, %rdi
    jmp     *%r8
    .globl  weft_switch_context_end
    .hidden weft_switch_context_end
weft_switch_context_end:
    .cfi_endproc
    .size   weft_switch_context, .-weft_switch_context

    .globl  weft_context_start
    .hidden weft_context_start
    .type   weft_context_start, @function
    .p2align 4
weft_context_start:
    .cfi_startproc
    .cfi_undefined rip
    xorl    %ebp, %ebp
    callq   *%r12
    ud2
    .cfi_endproc
    .size   weft_context_start, .-weft_context_start

    .globl  weft_on_context_start
    .hidden weft_on_context_start
    .type   weft_on_context_start, @function
    .p2align 4
weft_on_context_start:
    .cfi_startproc
    .cfi_def_cfa %rsp, 56
    .cfi_offset 16, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    .cfi_offset %r15, -32
    .cfi_offset %r14, -40
    .cfi_offset %r13, -48
    .cfi_offset %r12, -56
    movq    %rdi, %rbx
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    movq    %r13, %rdi
    callq   *%r12
    .globl  weft_on_context_return
    .hidden weft_on_context_return
weft_on_context_return:
    movq    %rbx, %rdi
    xorl    %esi, %esi
    callq   weft_switch_context
    ud2
    .cfi_endproc
    .size   weft_on_context_start, .-weft_on_context_start
)");

extern "C" {
struct weft_transfer {
    void* from;
    void* data;
};
weft_transfer weft_switch_context(void* to, void* data) noexcept;
void weft_context_start() noexcept;
void weft_on_context_start() noexcept;
void weft_on_context_return() noexcept;
void weft_switch_context_end() noexcept;
}

namespace weft::detail {

void* make_context(void* stack_top, std::size_t /*size*/, context_entry entry) noexcept {
    auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{15};
    // 16 bytes of padding keep weft_context_start's call 16-byte aligned (see above).
    auto** sp = reinterpret_cast<void**>(top - 72);
    sp[0] = reinterpret_cast<void*>(entry);  // r12
    for (int i = 1; i < 6; ++i) sp[i] = nullptr;
    sp[6] = reinterpret_cast<void*>(&weft_context_start);
    sp[7] = nullptr;
    sp[8] = nullptr;
    return sp;
}

context_transfer switch_context(void* to, void* data) noexcept {
    weft_transfer t = weft_switch_context(to, data);
    return {t.from, t.data};
}

// A second saved context is written just below `ctx`, in the part of its stack that is free
// while it is suspended, as if `ctx`'s code had switched out once more: r12 = fn, r13 = arg,
// rbp as `ctx` saved it, resume address weft_on_context_start. Switching to it pops those
// and leaves rsp == ctx, so weft_on_context_start begins with `ctx`'s saved registers and
// resume address right above rsp: the layout weft_switch_context leaves after its pushes,
// which its CFI describes (CFA = rsp + 56, each register at its push slot). An unwinder
// coming out of `fn` therefore recovers `ctx`'s registers and return address and carries on
// into the code that switched out. After `fn`, it switches back to the caller (rbx holds the
// caller's context); the context that switch saves, below `ctx` again, is dropped.
void run_on_context_stack(void* ctx, void (*fn)(void*), void* arg) noexcept {
    auto** saved = static_cast<void**>(ctx);
    auto** sp = saved - 7;
    sp[0] = reinterpret_cast<void*>(fn);  // r12
    sp[1] = arg;                          // r13
    sp[2] = nullptr;                      // r14
    sp[3] = nullptr;                      // r15
    sp[4] = nullptr;                      // rbx
    sp[5] = saved[5];                     // rbp
    sp[6] = reinterpret_cast<void*>(&weft_on_context_start);
    // safety: the switch enters weft_on_context_start on ctx's stack with rdi = our own
    // context; it switches back to it once fn returned, so this call returns normally.
    // saved % 16 == 8 (a call pushed the resume address onto an aligned stack, then six
    // registers), so the trampoline's `subq $8` aligns the call to fn.
    weft_switch_context(sp, nullptr);
}

bool in_switch_context(const void* pc) noexcept {
    auto p = reinterpret_cast<std::uintptr_t>(pc);
    return p >= reinterpret_cast<std::uintptr_t>(&weft_switch_context) &&
           p < reinterpret_cast<std::uintptr_t>(&weft_switch_context_end);
}

const void* run_on_context_stack_return_address() noexcept {
    return reinterpret_cast<const void*>(&weft_on_context_return);
}

}  // namespace weft::detail

#else

#include <boost/context/detail/fcontext.hpp>

namespace weft::detail {
namespace bctx = boost::context::detail;

void* make_context(void* stack_top, std::size_t size, context_entry entry) noexcept {
    // transfer_t and context_transfer are both two pointers, passed the same way.
    return bctx::make_fcontext(stack_top, size,
                               reinterpret_cast<void (*)(bctx::transfer_t)>(entry));
}

context_transfer switch_context(void* to, void* data) noexcept {
    bctx::transfer_t t = bctx::jump_fcontext(static_cast<bctx::fcontext_t>(to), data);
    return {t.fctx, t.data};
}

void run_on_context_stack(void*, void (*)(void*), void*) noexcept {}

bool in_switch_context(const void*) noexcept { return false; }

const void* run_on_context_stack_return_address() noexcept { return nullptr; }

}  // namespace weft::detail

#endif
