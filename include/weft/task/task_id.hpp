// task_id: the identifier of a task.
#pragma once

#include <cstdint>

namespace weft {

/// Unique, non-zero identifier of a task within the process.
using task_id = std::uint64_t;

}  // namespace weft
