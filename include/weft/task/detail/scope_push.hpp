// scope_push: makes a cancel_scope the calling task's innermost one for a C++ scope.
// Not for users (timeout and scoped use it).
#pragma once

#include <weft/detail/task_header.hpp>

namespace weft::detail {

/// Pushes `s` onto the current task's scope list; pops it on destruction or pop(). Off a
/// task it does nothing (there is no cancellation to scope).
class scope_push {
   public:
    explicit scope_push(cancel_scope& s) noexcept;
    /// For a caller that already knows the current task (`t`, null off a task).
    scope_push(task_header* t, cancel_scope& s) noexcept
        : task_(t),
          scope_(&s) {
        if (!t) return;
        s.outer = t->scopes_;
        t->scopes_ = &s;
    }
    scope_push(const scope_push&) = delete;
    scope_push& operator=(const scope_push&) = delete;
    ~scope_push() { pop(); }
    /// Pops the scope now (idempotent). Scopes nest: it must be the innermost one.
    void pop() noexcept;

   private:
    task_header* task_;
    cancel_scope* scope_;
};

}  // namespace weft::detail
