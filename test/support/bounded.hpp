// Bounded waits for tests whose failure mode is a hang (a shutdown that never returns, a job
// stuck behind another): the work runs on its own thread and the test waits with a deadline,
// so a regression fails with a message instead of stalling the suite.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

namespace weft::test {

/// Runs `f()` on a new thread and waits at most `limit` for it. Returns f's result (an
/// exception from f is rethrown here), or nullopt when it did not finish in time. Then the
/// thread is left running, detached, owning `f` and its captures: the test has failed, and a
/// stuck thread is better than a stuck suite. `f` must not refer to the caller's locals.
template <class F>
std::optional<std::invoke_result_t<F>> run_bounded(std::chrono::milliseconds limit, F f) {
    using R = std::invoke_result_t<F>;
    static_assert(!std::is_void_v<R>, "return a result to check on the test thread");
    auto job = std::make_shared<std::packaged_task<R()>>(std::move(f));
    std::future<R> done = job->get_future();
    std::thread([job] { (*job)(); }).detach();
    if (done.wait_for(limit) != std::future_status::ready) return std::nullopt;
    return done.get();
}

}  // namespace weft::test
