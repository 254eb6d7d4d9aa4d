// sleep_until: park on a detail::timer; an abort (or a fired timeout scope) disarms it and
// throws at once.
#include <weft/detail/park.hpp>
#include <weft/detail/task_header.hpp>
#include <weft/detail/timer.hpp>
#include <weft/time.hpp>

#include <thread>

namespace weft {
namespace detail {

namespace {
// Parks until the deadline (true) or a cancellation (false; the timer is disarmed by then).
[[gnu::noinline]] bool sleep_parked(task_header* t, std::chrono::steady_clock::time_point deadline,
                                    std::source_location where) {
    timer tm;
    tm.arm(deadline, waker(t));
    while (!tm.fired()) {
        if (cancellation_requested()) return false;
        park("sleep", where);
    }
    return true;
}
}  // namespace

void sleep_until_impl(std::chrono::steady_clock::time_point deadline, std::source_location where) {
    task_header* t = current_task();
    if (!t) {
        check_may_block("weft::sleep");
        std::this_thread::sleep_until(deadline);
        return;
    }
    throw_if_cancelled();
    // Thrown here, where no local has a destructor: a throw through a frame with one lands
    // in its cleanup and goes on through _Unwind_Resume, which starts the unwinder over (about
    // 400 ns on the development VM; 12.8% of the select row, whose losing tick branches are
    // cancelled in this sleep).
    if (!sleep_parked(t, deadline, where)) throw_if_cancelled();
}

}  // namespace detail

void sleep_until(std::chrono::steady_clock::time_point deadline, std::source_location where) {
    detail::sleep_until_impl(deadline, where);
}

}  // namespace weft
