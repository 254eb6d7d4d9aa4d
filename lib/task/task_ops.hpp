// Task state transitions shared by the scheduler, wakers and handles.
#pragma once

#include <weft/detail/task_header.hpp>

namespace weft::detail {

/// Makes `t` runnable unless it is running (then it is marked notified and requeued after
/// its switch-out), already scheduled, or complete.
void wake_task(task_header* t) noexcept;

}  // namespace weft::detail
