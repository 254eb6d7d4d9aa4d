// await_completion: the last step of waiting for a child whose callable is already gone.
// Not for users.
#pragma once

#include <weft/detail/task_header.hpp>

namespace weft::detail {

/// Waits until `t` completed, once its callable object was destroyed (join_set, join,
/// select, scoped report a child's end from the callable's destructor, a few instructions
/// before the runtime marks the task complete; no user code runs in between). Yields
/// meanwhile; not a cancellation point. Does not use `t`'s join waker, so a join_handle the
/// user holds for `t` keeps working.
void await_completion(task_header* t);

}  // namespace weft::detail
