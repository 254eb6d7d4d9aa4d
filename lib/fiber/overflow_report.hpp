// Stack overflow reports. Guarded stacks fault on their guard page; a SIGSEGV handler running
// on an alternate signal stack recognises the fault address as the current task's guard and
// prints the task's id, name, spawn location and stack size before aborting. Slab stacks
// (no guard page) are checked at each switch-out instead (the saved stack pointer).
#pragma once

namespace weft::detail {

class task_header;

/// Installs the process-wide handler (once) and an alternate signal stack for this thread.
void ensure_overflow_handler();

/// Prints the report for `t` and aborts.
[[noreturn]] void report_stack_overflow(const task_header* t, bool at_switch) noexcept;

}  // namespace weft::detail
