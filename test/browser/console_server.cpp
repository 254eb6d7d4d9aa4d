// A console for the browser test: a runtime (with latency histograms) with a few recognisable
// tasks and a weft::console on 127.0.0.1 (a free port). Prints "PORT <n>" on stdout once it
// listens, then serves until stdin reaches end of file (the test closes it), or for at most
// WEFT_CONSOLE_SERVER_SECONDS (default 120) so a lost test cannot leave it running.
#include <weft/console.hpp>
#include <weft/runtime.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

using namespace std::chrono_literals;

// The sleeper's own frame, which the page must show in its stack (?bt=1): external linkage
// and never inlined, so it has a symbol of its own.
[[gnu::noinline]] void browser_test_parked_here() {
    weft::sleep_for(1h);
    asm volatile("" ::: "memory");
}

int main() {
    try {
        auto rt = weft::builder::multi_thread().worker_threads(2).latency_histograms(true).build();
        rt.block_on([] {
            weft::task_builder().name("browser-test-sleeper").spawn(browser_test_parked_here);
            // Some activity, so the metrics move while the page polls them.
            weft::task_builder().name("browser-test-ticker").spawn([] {
                for (;;) weft::sleep_for(20ms);
            });
        });
        weft::console console = weft::console::start(rt);
        std::printf("PORT %u\n", static_cast<unsigned>(console.local_endpoint().port()));
        std::fflush(stdout);

        const char* env = std::getenv("WEFT_CONSOLE_SERVER_SECONDS");
        auto limit = std::chrono::seconds(env ? std::atoi(env) : 120);
        auto deadline = std::chrono::steady_clock::now() + limit;
        char buf[256];
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{0, POLLIN, 0};
            if (::poll(&p, 1, 200) > 0) {
                if (::read(0, buf, sizeof buf) <= 0) break;  // end of file: the test is done
            }
        }
        console.stop();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "console_server: %s\n", e.what());
        return 1;
    }
}
