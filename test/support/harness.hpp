// Test helpers shared by the suites. Catch2 assertions are not thread-safe: tests collect
// results inside tasks and assert on the test thread after joining.
#pragma once

#include <weft/runtime.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace weft::test {

/// The socket backend the suite runs on: WEFT_TEST_SOCKET_IO=reactor or io_uring (test/meson.build
/// runs the net suite once on each), else the runtime's default. Anything else is a
/// misconfigured test run: std::invalid_argument naming it.
inline net::io_backend test_socket_io() {
    const char* env = std::getenv("WEFT_TEST_SOCKET_IO");
    if (env == nullptr || *env == '\0') return net::io_backend::automatic;
    const std::string v(env);
    if (v == "reactor") return net::io_backend::reactor;
    if (v == "io_uring") return net::io_backend::io_uring;
    throw std::invalid_argument("WEFT_TEST_SOCKET_IO: \"" + v + "\" is not reactor or io_uring");
}

/// A multi_thread runtime with `n` workers (the CI machine has 2 cores; 2 workers make
/// stealing and migration happen), on the suite's socket backend.
inline runtime make_runtime(std::size_t workers = 2) {
    return builder::multi_thread().worker_threads(workers).socket_io(test_socket_io()).build();
}

/// Scale for stress sizes: WEFT_STRESS_SCALE percent (default 100; the sanitizer builds set
/// less). Never below 1.
inline std::size_t scaled(std::size_t n) {
    const char* env = std::getenv("WEFT_STRESS_SCALE");
    std::size_t pct = env ? static_cast<std::size_t>(std::atoi(env)) : 100;
    std::size_t v = n * pct / 100;
    return v == 0 ? 1 : v;
}

/// The calling thread's id, read afresh. std::this_thread::get_id() reads pthread_self(),
/// which glibc declares const: GCC reuses its value across a suspension point in the same
/// function, so a task that migrated would still see its old thread. This is the hazard
/// of thread-local caches on fibers that migrate, and why weft's own accessors are opaque.
[[gnu::noinline, gnu::noipa]] inline std::thread::id current_thread_id() {
    std::thread::id id = std::this_thread::get_id();
    asm volatile("" ::: "memory");
    return id;
}

/// Busy for `d` of real time without suspending: holds the worker, as CPU-bound code does.
inline void spin_for(std::chrono::nanoseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {}
}

/// rt's live tasks once they had up to 5 s to fall to `allowed` or below. A finishing task is
/// counted out just after it woke its joiner (or reported to its join or select), so right
/// after a join it may still be counted for a moment.
inline std::size_t alive_settled(const runtime& rt, std::size_t allowed = 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (rt.metrics().alive_tasks > allowed && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return rt.metrics().alive_tasks;
}

/// Counts live instances, to check that destructors ran.
struct lifetime_counter {
    static inline std::atomic<long> alive{0};
    lifetime_counter() { alive.fetch_add(1); }
    lifetime_counter(const lifetime_counter&) { alive.fetch_add(1); }
    ~lifetime_counter() { alive.fetch_sub(1); }
};

}  // namespace weft::test
