// weft::executor's out-of-line parts: queueing handler tasks and the shard lookup.
#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"

#include <weft/asio/executor.hpp>
#include <weft/error.hpp>

namespace weft {
namespace detail {

void submit_handler(scheduler* s, task_header* t, std::uint8_t flags) {
    s->submit_handler(t, (flags & exec_continuation) != 0);
}

bool on_worker_of(const scheduler* s) noexcept {
    thread_context& ctx = this_thread_context();
    return ctx.w && &ctx.w->sched() == s && !ctx.w->in_task();
}

boost::asio::io_context* shard_here(scheduler* s) noexcept {
    thread_context& ctx = this_thread_context();
    return ctx.w && &ctx.w->sched() == s ? &ctx.w->io() : nullptr;
}

boost::asio::io_context& shard_of(scheduler* s) noexcept {
    if (boost::asio::io_context* here = shard_here(s)) return *here;
    return s->worker_at(0).io();
}

boost::asio::io_context& next_shard(scheduler* s) noexcept {
    std::size_t i = s->next_shard.fetch_add(1, std::memory_order_relaxed) % s->num_workers();
    return s->worker_at(i).io();
}

void work_started(scheduler* s) noexcept {
    s->outstanding_work.fetch_add(1, std::memory_order_relaxed);
}
void work_finished(scheduler* s) noexcept {
    s->outstanding_work.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace detail

boost::asio::io_context::executor_type current_io_executor() {
    detail::worker* w = detail::this_thread_context().w;
    if (!w) {
        throw no_runtime(
            "weft::current_io_executor: not on a weft worker thread (call it from a task or "
            "a handler running on the runtime)");
    }
    return w->io().get_executor();
}

}  // namespace weft
