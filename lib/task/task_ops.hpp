// Task state transitions shared by the scheduler, wakers and handles.
#pragma once

#include <weft/detail/task_header.hpp>

#include <source_location>

namespace weft::detail {

/// Task ids are handed out to each thread in blocks of this many (lib/task/task.cpp), so
/// spawning threads never share a counter; owned_tasks shards by block.
inline constexpr task_id task_id_block = 1024;

/// Makes `t` runnable unless it is running (then it is marked notified and requeued after
/// its switch-out), already scheduled, or complete. `lifo`: on a worker, run it next (the
/// LIFO slot, for message passing); otherwise it queues behind the ready tasks.
void wake_task(task_header* t, bool lifo = true) noexcept;

/// join_wait without the select claim, for the library's own helper jobs whose result is
/// not a user's value (a name resolved on the blocking pool): waiting for them must neither
/// decide a select the caller is a branch of nor give back a claim the branch holds. Still a
/// cancellation point. The caller takes the result with take_completed.
void join_wait_unclaimed(task_header* t, std::source_location where);

}  // namespace weft::detail
