// Run by stack_overflow_test: overflows a named task's stack on purpose. Expected to die
// with SIGABRT after weft's report. With the argument "crowded", 300 parked tasks hold stacks
// first, so the overflowing task's stack lies among others in a shared slab (where the kernel
// installs guard regions), the stack below it in use. With "reused", a task first runs on a
// 128 KiB stack and ends, and the overflowing task (128 KiB too) gets that stack back: a size
// no cache keeps goes back to the system and its range to the slab, guard page kept.
#include <weft/runtime.hpp>
#include <weft/sync.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {
volatile int depth_limit = 1 << 30;  // opaque to the compiler: the recursion "may" end

[[gnu::noinline]] int recurse(int n) {
    volatile char frame[1024];
    frame[0] = static_cast<char>(n);
    if (n >= depth_limit) return 0;
    return recurse(n + 1) + frame[0];
}
}  // namespace

int main(int argc, char** argv) {
    const bool crowded = argc > 1 && std::strcmp(argv[1], "crowded") == 0;
    const bool reused = argc > 1 && std::strcmp(argv[1], "reused") == 0;
    auto rt = weft::builder::multi_thread().worker_threads(2).build();
    rt.block_on([crowded, reused] {
        if (reused) {
            constexpr std::size_t size = 128 * 1024;
            weft::task_builder()
                .stack_size(size)
                .spawn([] { return recurse(depth_limit - 8); })
                .join();
            weft::task_builder()
                .name("deep-recursion")
                .stack_size(size)
                .spawn([] { return recurse(0); })
                .join();
            return;
        }
        weft::notify never;
        std::atomic<int> parked{0};
        std::vector<weft::join_handle<void>> holders;
        const int n = crowded ? 300 : 0;
        for (int i = 0; i < n; ++i) {
            holders.push_back(weft::spawn([&] {
                parked.fetch_add(1);
                never.notified();
            }));
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (parked.load() < n && std::chrono::steady_clock::now() < deadline) {
            weft::sleep_for(std::chrono::milliseconds(1));
        }
        if (parked.load() < n) {
            std::puts("the holders did not park in 20 s");
            std::exit(1);
        }
        weft::task_builder().name("deep-recursion").spawn([] { return recurse(0); }).join();
    });
    std::puts("unreachable: the overflow was not detected");
    return 0;
}
