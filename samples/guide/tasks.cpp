// Guide sample (docs/guide/getting-started.md, tasks.md, performance.md): runtimes, spawning,
// joining, aborting, blocking work, task options. Each `// [snippet:NAME]` ... `// [end]`
// region is quoted by the guide; the program runs them all and exits non-zero if one did not
// behave as the guide says.
#include <weft/weft.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

bool ok = true;
void expect(bool cond, const char* what) {
    if (!cond) {
        std::fprintf(stderr, "guide sample: unexpected: %s\n", what);
        ok = false;
    }
}

std::string read_config_file() {
    std::this_thread::sleep_for(2ms);  // stands for a blocking call (a file, a C library)
    return "port=8080";
}

void runtimes() {
    // [snippet:builder]
    weft::runtime rt = weft::builder::multi_thread()
                           .worker_threads(2)       // default: one per core
                           .stack_size(128 * 1024)  // each task's fiber stack (default 256 KiB)
                           .thread_name("app-worker")
                           .build();
    int answer = rt.block_on([] { return 6 * 7; });  // runs as a task; blocks this thread
    // [end]
    expect(answer == 42, "block_on returns the task's value");

    // [snippet:current-thread]
    weft::runtime single = weft::builder::current_thread().build();
    auto caller = std::this_thread::get_id();
    bool same_thread = single.block_on([caller] {
        auto h = weft::spawn([caller] { return std::this_thread::get_id() == caller; });
        return h.join();  // every task runs on the thread that called block_on
    });
    // same_thread == true
    // [end]
    expect(same_thread, "current_thread runs tasks on the block_on thread");
}

void spawn_and_join() {
    // [snippet:spawn-join]
    weft::join_handle<int> h = weft::spawn([] {
        weft::sleep_for(1ms);  // suspends this task; its worker runs others meanwhile
        return 7;
    });
    int v = h.join();  // suspends the caller until the task ends: 7
    // [end]
    expect(v == 7, "join returns the value");

    // [snippet:join-error]
    auto failing = weft::spawn([]() -> int { throw std::runtime_error("no such user"); });
    try {
        failing.join();
    } catch (const weft::join_error& e) {
        // e.is_exception(); the original is e.exception(), to rethrow or inspect
        try {
            std::rethrow_exception(e.exception());
        } catch (const std::runtime_error& original) {
            expect(std::string(original.what()) == "no such user", "join_error holds it");
        }
    }
    // [end]

    // [snippet:detach]
    std::atomic<bool> ran{false};
    {
        auto background = weft::spawn([&ran] { ran = true; });
    }  // the handle is gone: the task is detached and runs on
    while (!ran) weft::sleep_for(1ms);
    // [end]
    expect(ran, "a detached task runs");
}

void abort_handles() {
    // [snippet:abort-handle]
    auto h = weft::spawn([] { weft::sleep_for(1h); });
    weft::abort_handle stop = h.get_abort_handle();  // copyable; cannot join
    stop.abort();  // the task throws task_cancelled at its sleep and unwinds
    try {
        h.join();
    } catch (const weft::join_error& e) {
        expect(e.is_cancelled(), "an aborted task's join reports cancelled");
    }
    // stop.is_finished() == true
    // [end]
    expect(stop.is_finished(), "is_finished after join");
}

void blocking_work() {
    // [snippet:spawn-blocking]
    auto cfg = weft::spawn_blocking([] { return read_config_file(); });  // a pool thread
    std::string text = cfg.join();  // the task waits; no worker is blocked
    // [end]
    expect(text == "port=8080", "spawn_blocking returns the value");

    // [snippet:yield]
    long sum = 0;
    for (int i = 1; i <= 100'000; ++i) {
        sum += i;
        if (i % 10'000 == 0) weft::yield_now();  // let other tasks run; a cancellation point
    }
    // [end]
    expect(sum == 5'000'050'000L, "yield_now loop");
}

void task_options(weft::runtime& rt) {
    // [snippet:task-builder]
    auto h = weft::task_builder()
                 .name("deep-parser")      // shown in dump(), reports and warnings
                 .stack_size(1024 * 1024)  // this task only; others keep the default
                 .spawn([] {
                     weft::sleep_for(200ms);  // (recursion-heavy work would go here)
                     return 1;
                 });
    // [end]
    // Until the task is parked in its sleep (at once, unless the machine is very busy).
    auto parked = [&rt] {
        for (const weft::task_info& t : rt.dump()) {
            if (t.name == "deep-parser") return t.state == weft::task_state::suspended;
        }
        return false;
    };
    for (int i = 0; i < 100 && !parked(); ++i) weft::sleep_for(1ms);
    // [snippet:dump]
    for (const weft::task_info& t : rt.dump()) {
        if (t.name == "deep-parser") {
            // t.state == task_state::suspended, t.waiting_on == "sleep",
            // t.suspended_at: the line of the sleep_for call
            expect(t.state == weft::task_state::suspended && t.waiting_on == "sleep",
                   "dump shows the sleeping task");
        }
    }
    // [end]
    expect(h.join() == 1, "task_builder spawn");
}

void spawn_local_example() {
    // [snippet:spawn-local]
    auto pinned = weft::spawn_local([] {
        auto before = std::this_thread::get_id();
        weft::sleep_for(1ms);
        return before;  // a pinned task resumes on the same worker thread
    });
    // [end]
    pinned.join();
}

}  // namespace

int main() {
    runtimes();
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    rt.block_on([&rt] {
        spawn_and_join();
        abort_handles();
        blocking_work();
        task_options(rt);
        spawn_local_example();
    });
    std::printf("tasks: %s\n", ok ? "all as described" : "FAILED");
    return ok ? 0 : 1;
}
