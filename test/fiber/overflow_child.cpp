// Run by stack_overflow_test: overflows a named task's stack on purpose. Expected to die
// with SIGABRT after weft's report.
#include <weft/runtime.hpp>
#include <weft/task.hpp>

#include <cstdio>

namespace {
volatile int depth_limit = 1 << 30;  // opaque to the compiler: the recursion "may" end

[[gnu::noinline]] int recurse(int n) {
    volatile char frame[1024];
    frame[0] = static_cast<char>(n);
    if (n >= depth_limit) return 0;
    return recurse(n + 1) + frame[0];
}
}  // namespace

int main() {
    auto rt = weft::builder::multi_thread().worker_threads(2).build();
    rt.block_on([] {
        weft::task_builder().name("deep-recursion").spawn([] { return recurse(0); }).join();
    });
    std::puts("unreachable: the overflow was not detected");
    return 0;
}
