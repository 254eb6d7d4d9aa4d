// task_builder: spawn with a name and a stack size (Tokio's task::Builder).
#pragma once

#include <weft/task/join_handle.hpp>

#include <cstddef>
#include <source_location>
#include <string>

namespace weft {

namespace detail {
void validate_stack_size(std::size_t bytes, const char* option);
}  // namespace detail

/// Configures one spawn. The name appears in dump(), overflow reports and warnings.
///
/// ```cpp
/// auto h = weft::task_builder().name("parser").stack_size(1024 * 1024).spawn([] { parse(); });
/// ```
class task_builder {
   public:
    task_builder() = default;

    /// The task's name, shown in runtime::dump(), unhandled-exception reports and warnings.
    task_builder& name(std::string n) {
        opts_.name = std::move(n);
        return *this;
    }
    /// This task's stack in bytes (>= 16 KiB), overriding the runtime's default.
    /// std::invalid_argument when smaller.
    task_builder& stack_size(std::size_t bytes) {
        detail::validate_stack_size(bytes, "task_builder::stack_size");
        opts_.stack_size = bytes;
        return *this;
    }

    template <detail::task_callable F>
    /// Spawns `f` with these options, as weft::spawn does (needs a runtime context).
    join_handle<detail::result_of_t<F>> spawn(
        F&& f, std::source_location loc = std::source_location::current()) const {
        return detail::spawn_with(nullptr, opts_, std::forward<F>(f), loc);
    }

    template <detail::task_callable F>
    /// Spawns `f` with these options, pinned to the current worker thread, as weft::spawn_local.
    join_handle<detail::result_of_t<F>> spawn_local(
        F&& f, std::source_location loc = std::source_location::current()) const {
        detail::spawn_options o = opts_;
        o.pinned = true;
        return detail::spawn_with(nullptr, std::move(o), std::forward<F>(f), loc);
    }

   private:
    detail::spawn_options opts_;
};

}  // namespace weft
