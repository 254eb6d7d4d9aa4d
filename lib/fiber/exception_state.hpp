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

/// Installs `next` into the thread's globals and returns what was there.
eh_state swap_eh_state(void* globals, eh_state next) noexcept;

}  // namespace weft::detail
