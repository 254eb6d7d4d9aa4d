// The current task: its id, whether it was aborted, shielding, and yielding.
#pragma once

#include <weft/detail/task_header.hpp>

#include <source_location>

namespace weft {

/// Reschedules the current task behind the tasks that are ready now. On a plain thread,
/// std::this_thread::yield(). **Cancellation**: a cancellation point.
void yield_now(std::source_location where = std::source_location::current());

namespace this_task {

/// The current task's id; 0 outside a task.
task_id id() noexcept;

/// True once the current task was aborted (false outside a task).
bool is_cancelled() noexcept;

/// While a shield lives, the current task's cancellation points do not throw task_cancelled;
/// the abort stays pending and the first cancellation point after the last shield ends
/// throws. Use it to finish a critical section (e.g. flushing a buffer) before unwinding.
class shield {
   public:
    shield() noexcept;
    ~shield();
    shield(const shield&) = delete;
    shield& operator=(const shield&) = delete;

   private:
    detail::task_header* task_;
};

}  // namespace this_task
}  // namespace weft
