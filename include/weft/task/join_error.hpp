// join_error: how a joined task ended when it did not return a value.
#pragma once

#include <weft/task/task_id.hpp>

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace weft {

/// Thrown by join_handle::join (and join_set::join_next) when the task was aborted or ended
/// with an uncaught exception. `exception()` holds the original, to rethrow or inspect.
class join_error : public std::runtime_error {
   public:
    /// How the task ended: `cancelled` (aborted, or cancelled by its runtime's shutdown) or
    /// `exception` (an uncaught exception, held by exception()).
    enum class kind { cancelled, exception };

    /// Built by weft when a join observes the outcome; `what` names the task.
    join_error(kind k, task_id id, std::exception_ptr e, const std::string& what)
        : std::runtime_error(what),
          kind_(k),
          id_(id),
          exception_(std::move(e)) {}

    /// The task was aborted.
    [[nodiscard]] bool is_cancelled() const noexcept { return kind_ == kind::cancelled; }
    /// The task ended with an uncaught exception.
    [[nodiscard]] bool is_exception() const noexcept { return kind_ == kind::exception; }
    /// That exception; null when the task was cancelled.
    [[nodiscard]] std::exception_ptr exception() const noexcept { return exception_; }
    /// The task's id.
    [[nodiscard]] task_id id() const noexcept { return id_; }

   private:
    kind kind_;
    task_id id_;
    std::exception_ptr exception_;
};

}  // namespace weft
