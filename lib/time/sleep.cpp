// sleep_until: park on a detail::timer; an abort (or a fired timeout scope) disarms it and
// throws at once.
#include <weft/detail/park.hpp>
#include <weft/detail/task_header.hpp>
#include <weft/detail/timer.hpp>
#include <weft/time.hpp>

#include <thread>

namespace weft {
namespace detail {

void sleep_until_impl(std::chrono::steady_clock::time_point deadline, std::source_location where) {
    task_header* t = current_task();
    if (!t) {
        check_may_block("weft::sleep");
        std::this_thread::sleep_until(deadline);
        return;
    }
    throw_if_cancelled();
    timer tm;
    tm.arm(deadline, waker(t));
    while (!tm.fired()) {
        if (cancellation_requested()) {
            tm.disarm();
            throw_if_cancelled();
        }
        park("sleep", where);
    }
}

}  // namespace detail

void sleep_until(std::chrono::steady_clock::time_point deadline, std::source_location where) {
    detail::sleep_until_impl(deadline, where);
}

}  // namespace weft
