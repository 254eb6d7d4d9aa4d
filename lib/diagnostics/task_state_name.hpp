// The name of a task_state as the dump's text and JSON forms both print it.
#pragma once

#include <weft/metrics.hpp>

namespace weft::detail {

/// "scheduled", "running", "suspended" or "finished".
inline const char* task_state_name(task_state s) noexcept {
    switch (s) {
        case task_state::scheduled:
            return "scheduled";
        case task_state::running:
            return "running";
        case task_state::suspended:
            return "suspended";
        case task_state::finished:
            return "finished";
    }
    return "unknown";
}

}  // namespace weft::detail
