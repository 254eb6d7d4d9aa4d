// Two strengths of assertion: WEFT_ASSERT (debug builds only) and WEFT_INVARIANT (always on).
// Both abort with a message naming the broken condition and where it broke.
#pragma once

namespace weft::detail {
[[noreturn]] void invariant_failed(const char* expr, const char* msg, const char* file,
                                   int line) noexcept;
}  // namespace weft::detail

#define WEFT_INVARIANT(cond, msg)                                                                  \
    do {                                                                                           \
        if (!(cond)) [[unlikely]]                                                                  \
            ::weft::detail::invariant_failed(#cond, msg, __FILE__, __LINE__);                      \
    } while (false)

#ifdef NDEBUG
#define WEFT_ASSERT(cond, msg)                                                                     \
    do {                                                                                           \
    } while (false)
#else
#define WEFT_ASSERT(cond, msg) WEFT_INVARIANT(cond, msg)
#endif
