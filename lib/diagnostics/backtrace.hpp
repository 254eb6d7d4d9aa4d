// Backtraces for the diagnostics: capture (async-signal-safe, Boost.Stacktrace's safe_dump_to,
// which is _Unwind_Backtrace) and symbolisation (Boost.Stacktrace over GCC's libbacktrace,
// which reads the DWARF of every loaded module, off any signal path). See
// docs/notes/diagnostics.md for why these two and what each costs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace weft::detail {

/// Return addresses of the calling stack, innermost first, at most `max`, into `out`.
/// Async-signal-safe (no allocation, no lock on glibc >= 2.35, whose _dl_find_object the
/// unwinder uses to find each frame's unwind table). Returns how many were written.
std::size_t capture_backtrace(void** out, std::size_t max) noexcept;

/// Drops the frames before the first one equal to `anchor` (a signal handler's own frames,
/// before the interrupted instruction), moving the rest to the front. Returns the new count;
/// `n` unchanged when `anchor` is not found.
std::size_t drop_frames_before(void** pcs, std::size_t n, const void* anchor) noexcept;

/// Drops the frames up to and including the first one equal to `anchor` (the capture's own
/// frames: a signal handler, a trampoline), moving the rest to the front. Returns the new
/// count; `n` unchanged when `anchor` is not found.
std::size_t drop_frames_through(void** pcs, std::size_t n, const void* anchor) noexcept;

/// Turns addresses into `function at file:line` text. Not async-signal-safe: allocates and
/// takes the process-wide symbolisation lock. Remembers what it looked up, so a dump of many
/// tasks parked in the same places looks each address up once.
class symboliser {
   public:
    /// One line per frame, `#i function at file:line` (or `function in module`, or the bare
    /// address when nothing is known). `first_is_exact`: pcs[0] is where the code was
    /// interrupted (a signal) rather than a return address; every other frame is looked up
    /// one byte before its return address, inside the call instruction, so that the line is
    /// the call's.
    std::vector<std::string> frames(const void* const* pcs, std::size_t n, bool first_is_exact);

   private:
    std::unordered_map<std::uintptr_t, std::string> cache_;
};

}  // namespace weft::detail
