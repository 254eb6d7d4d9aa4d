// Guide sample (docs/guide/when-not-to-use-weft.md): handing work that does not suit fibers to
// something else, and reaching a runtime from threads it does not own. Snippet regions as in
// tasks.cpp; exits non-zero if something did not behave as the guide says.
#include <weft/weft.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstddef>
#include <cstdio>
#include <numeric>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

bool ok = true;
void expect(bool cond, const char* what) {
    if (!cond) {
        std::fprintf(stderr, "guide sample: unexpected: %s\n", what);
        ok = false;
    }
}

long crunch(const std::vector<long>& v, std::size_t from, std::size_t to) {
    auto first = v.begin() + static_cast<std::ptrdiff_t>(from);
    auto last = v.begin() + static_cast<std::ptrdiff_t>(to);
    return std::accumulate(first, last, 0L);
}

void cpu_pool(asio::thread_pool& cpu) {
    std::vector<long> data(1'000'000);
    std::iota(data.begin(), data.end(), 0L);
    // [snippet:cpu-pool]
    // asio::thread_pool cpu(std::thread::hardware_concurrency());  // made once, at startup
    auto [tx, rx] = weft::oneshot::channel<long>();
    asio::post(cpu, [&data, tx = std::move(tx)]() mutable {
        tx.send(crunch(data, 0, data.size()));  // runs on a computation thread
    });
    long total = rx.recv();  // the task waits; the runtime's workers stay free for I/O
    // [end]
    expect(total == 999'999L * 1'000'000L / 2, "cpu pool result");
}

void from_threads(weft::runtime& rt) {
    // [snippet:from-thread]
    weft::handle h = rt.handle();  // copyable; usable from any thread
    int result = 0;
    std::thread legacy([h, &result] {
        auto job = h.spawn([] {  // a task on the runtime, spawned from a foreign thread
            weft::sleep_for(1ms);
            return 5;
        });
        result = job.join();  // on a plain thread, join blocks that thread
    });
    legacy.join();
    // [end]
    expect(result == 5, "spawn from a foreign thread");

    // [snippet:plain-thread-wait]
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    std::thread consumer([rx = std::move(rx)]() mutable {
        while (auto v = rx.recv()) {  // weft primitives block a plain thread
            (void)*v;
        }
    });
    rt.block_on([tx = std::move(tx)] { tx.send(1); });
    consumer.join();  // the sender died with the task: recv returned nullopt
    // [end]
}

}  // namespace

int main() {
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    asio::thread_pool cpu(2);
    rt.block_on([&cpu] { cpu_pool(cpu); });
    from_threads(rt);
    cpu.join();
    std::printf("mixing: %s\n", ok ? "all as described" : "FAILED");
    return ok ? 0 : 1;
}
