// Fault injection for weft's tests (include/weft/detail/fault_injection.hpp). Everything here
// runs only while a point is armed: one mutex for all points is plenty.
#include <weft/detail/fault_injection.hpp>

#include <array>
#include <cerrno>
#include <mutex>
#include <new>
#include <system_error>

namespace weft::detail::fault {

std::atomic<bool> any_armed{false};

namespace {

struct point_state {
    std::uint64_t skip = 0;  // calls still to pass before the first failure
    std::uint64_t fail = 0;  // failures still to inject
    std::uint64_t injected = 0;
};

struct registry {
    std::mutex mu;
    std::array<point_state, point_count> points{};
};

registry& the_registry() {
    static auto* r = new registry;  // outlives every thread that may still hit a point
    return *r;
}

}  // namespace

void arm(point p, std::uint64_t nth, std::uint64_t times) {
    registry& r = the_registry();
    std::lock_guard lock(r.mu);
    point_state& s = r.points[static_cast<unsigned>(p)];
    s.skip = nth == 0 ? 0 : nth - 1;
    s.fail = times;
    s.injected = 0;
    any_armed.store(true, std::memory_order_relaxed);
}

void reset() noexcept {
    registry& r = the_registry();
    std::lock_guard lock(r.mu);
    any_armed.store(false, std::memory_order_relaxed);
    r.points.fill(point_state{});
}

std::uint64_t injected(point p) noexcept {
    registry& r = the_registry();
    std::lock_guard lock(r.mu);
    return r.points[static_cast<unsigned>(p)].injected;
}

bool hit_armed(point p) noexcept {
    registry& r = the_registry();
    std::lock_guard lock(r.mu);
    point_state& s = r.points[static_cast<unsigned>(p)];
    if (s.fail == 0) return false;
    if (s.skip > 0) {
        --s.skip;
        return false;
    }
    --s.fail;
    ++s.injected;
    return true;
}

void fail(point p) {
    switch (p) {
        case point::thread_create:
            // What std::thread throws when pthread_create fails with EAGAIN.
            throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                                    "weft fault injection: thread creation");
        case point::stack_map:
            throw std::system_error(std::make_error_code(std::errc::not_enough_memory),
                                    "weft fault injection: mmap");
        case point::io_uring_setup:
            throw std::system_error(std::make_error_code(std::errc::operation_not_permitted),
                                    "weft fault injection: io_uring_queue_init");
        case point::io_uring_submit:  // reported as -EAGAIN by the ring itself, never thrown
        case point::lost_notify:      // only skips a notify, never thrown
        case point::task_alloc:
        case point::timer_heap_grow:
            break;
    }
    throw std::bad_alloc();
}

}  // namespace weft::detail::fault
