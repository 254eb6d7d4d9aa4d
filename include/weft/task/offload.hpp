// offload: run a blocking function on the blocking pool while the calling task waits
// (Tokio's spawn_blocking(..).await, or block_in_place without taking the worker).
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/task_impl.hpp>
#include <weft/task/join_handle.hpp>
#include <weft/task/task_local.hpp>
#include <weft/task/this_task.hpp>

#include <exception>
#include <functional>
#include <source_location>
#include <type_traits>
#include <utility>

namespace weft {

/// Runs `f` on the runtime's blocking pool and returns its value (or rethrows its exception
/// as it was); the calling task waits without occupying its worker. Because the caller
/// waits for `f` in every case, `f` may capture the caller's local variables by reference,
/// and task_local::get() inside `f` sees the caller's values.
///
/// ```cpp
/// std::string text;
/// weft::offload([&] { text = read_whole_file(path); });   // blocking I/O, off the workers
/// ```
///
/// Throws: f's exception; weft::no_runtime outside a runtime; std::logic_error on a worker
/// thread outside a task. On a plain thread of a runtime the thread blocks.
///
/// **Cancellation**: a cancellation point, but `f` cannot be interrupted: if the caller is
/// aborted (or a timeout around it expires) while `f` runs, offload waits until `f` returns,
/// discards its result, then throws task_cancelled (weft::elapsed from the timeout). If `f`
/// had not started yet it never runs.
template <class F>
requires detail::task_callable<F>
auto offload(F&& f, std::source_location where = std::source_location::current())
    -> detail::result_of_t<F> {
    using R = detail::result_of_t<F>;
    static_assert(detail::valid_result_v<R>,
                  "weft::offload: f must return void or a move-constructible object type");
    detail::check_may_block("weft::offload");
    detail::throw_if_cancelled();
    detail::spawn_options opts;
    opts.blocking = true;
    auto h = detail::spawn_with(
        nullptr, std::move(opts),
        [locals = detail::current_locals(),
         fn = std::decay_t<F>(std::forward<F>(f))]() mutable -> R {
            detail::locals_adoption adopted(std::move(locals));
            return std::invoke(std::move(fn));
        },
        where);
    detail::task_header* t = detail::handle_access::get(h);
    try {
        detail::join_wait(t, where);
    } catch (...) {
        // f may hold references into this frame: it must end before the frame unwinds.
        h.abort();  // no effect once f started
        this_task::shield shield;
        detail::join_wait(t, where);
        throw;
    }
    try {
        return h.join(where);
    } catch (const join_error& e) {
        if (e.is_exception()) std::rethrow_exception(e.exception());
        throw task_cancelled{};  // the runtime shut down before f could run
    }
}

}  // namespace weft
