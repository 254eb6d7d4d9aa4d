#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"

#include <weft/detail/completion_executor.hpp>

#include <boost/asio/system_executor.hpp>

namespace weft::detail {

boost::asio::any_io_executor default_completion_executor() {
    thread_context& c = this_thread_context();
    if (c.w) return c.w->io().get_executor();
    if (c.sched) return c.sched->worker_at(0).io().get_executor();
    return boost::asio::system_executor();
}

}  // namespace weft::detail
