// task_cancelled: what an aborted task's cancellation points throw.
#pragma once

namespace weft {

/// Thrown from a cancellation point of an aborted task. Not derived from std::exception, so
/// `catch (const std::exception&)` in user code does not swallow it.
struct task_cancelled {};

}  // namespace weft
