// await_completion: see include/weft/task/detail/completion.hpp.
#include <weft/detail/park.hpp>
#include <weft/task/detail/completion.hpp>
#include <weft/task/this_task.hpp>

namespace weft::detail {

void await_completion(task_header* t) {
    if (t->is_complete()) return;
    // The window is the callable's destructor returning, the fiber switching out and the
    // runtime recording completion: no user code, no suspension. Yielding (rather than
    // parking on the join waker) leaves the join waker to the task's join_handle.
    this_task::shield shield;
    while (!t->is_complete()) yield_now();
}

}  // namespace weft::detail
