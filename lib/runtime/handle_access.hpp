// Library-internal access to what a weft::handle refers to (the diagnostics read the
// scheduler behind a handle; users have no use for it, so handle keeps it private).
#pragma once

#include <weft/runtime/handle.hpp>

namespace weft::detail {

struct runtime_handle_access {
    static scheduler* scheduler_of(const handle& h) noexcept { return h.sched_.get(); }
};

}  // namespace weft::detail
