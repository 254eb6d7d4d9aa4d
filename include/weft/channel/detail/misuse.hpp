// The channels' misuse errors, worded once: a handle used after being moved from, and a
// receiver used by two waits at once. Each is a std::logic_error naming the handle.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace weft::detail::chan {

/// Throws "`who`: used after being moved from".
[[noreturn]] inline void throw_moved_from(std::string_view who) {
    throw std::logic_error(std::string(who) + ": used after being moved from");
}

/// Throws "`who`: used concurrently (a `wait` is pending)" (`wait`: "receive", "wait").
[[noreturn]] inline void throw_used_concurrently(std::string_view who, std::string_view wait) {
    throw std::logic_error(std::string(who) + ": used concurrently (a " + std::string(wait) +
                           " is pending)");
}

}  // namespace weft::detail::chan
