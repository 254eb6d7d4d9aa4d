// scope_push: see include/weft/task/detail/scope_push.hpp.
#include <weft/detail/assert.hpp>
#include <weft/detail/park.hpp>
#include <weft/task/detail/scope_push.hpp>

namespace weft::detail {

scope_push::scope_push(cancel_scope& s) noexcept
    : scope_push(current_task(), s) {}

void scope_push::pop() noexcept {
    if (!task_ || !scope_) return;
    WEFT_INVARIANT(task_->scopes_ == scope_, "cancel scopes are popped innermost first");
    task_->scopes_ = scope_->outer;
    scope_ = nullptr;
}

}  // namespace weft::detail
