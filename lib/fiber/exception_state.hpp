// The C++ exception state (caught-exception stack, uncaught count) is per thread in the
// Itanium ABI, but a task may suspend inside a catch block or while unwinding and resume on
// another worker. The worker swaps the task's state in before resuming it and out after it
// switched back (as userver does), so std::current_exception() and
// std::uncaught_exceptions() follow the task, not the thread.
#pragma once

namespace weft::detail {

struct eh_state {
    void* caught = nullptr;
    unsigned int uncaught = 0;
};

/// The calling thread's exception globals (stable for the thread's life).
void* thread_eh_globals() noexcept;

/// libstdc++'s __cxa_eh_globals (x86-64 Itanium ABI): the caught-exception stack and the
/// uncaught count. Mirrored here so the swap inlines into the switch path.
struct eh_globals_layout {
    void* caught_exceptions;
    unsigned int uncaught_exceptions;
};

/// Installs `next` into the thread's globals and returns what was there.
inline eh_state swap_eh_state(void* globals, eh_state next) noexcept {
    auto* g = static_cast<eh_globals_layout*>(globals);
    eh_state prev{g->caught_exceptions, g->uncaught_exceptions};
    g->caught_exceptions = next.caught;
    g->uncaught_exceptions = next.uncaught;
    return prev;
}

}  // namespace weft::detail
