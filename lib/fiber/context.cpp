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
)");

extern "C" {
struct weft_transfer {
    void* from;
    void* data;
};
weft_transfer weft_switch_context(void* to, void* data) noexcept;
void weft_context_start() noexcept;
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

}  // namespace weft::detail

#endif
