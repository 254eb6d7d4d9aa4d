#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"
#include "executor_access.hpp"

#include <weft/asio/executor.hpp>
#include <weft/detail/completion_executor.hpp>
#include <weft/detail/join_op.hpp>

#include <boost/asio/system_executor.hpp>

namespace weft::detail {

boost::asio::any_io_executor default_completion_executor() {
    thread_context& c = this_thread_context();
    if (c.sched) return executor_access::make(c.sched, &shard_of(c.sched));
    return boost::asio::system_executor();
}

boost::asio::any_io_executor runtime_completion_executor(task_header* t) {
    if (scheduler* s = t->sched()) return executor_access::make(s, &shard_of(s));
    return default_completion_executor();
}

}  // namespace weft::detail
