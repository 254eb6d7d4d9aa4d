// Guide sample (docs/guide/asio-interop.md): the runtime's executor, handlers that spawn tasks,
// strands, co_spawn of asio::awaitable, use_fiber inside tasks, a foreign io_context and
// callback code waiting on weft primitives. Snippet regions as in tasks.cpp; exits non-zero if
// something did not behave as the guide says.
#include <weft/weft.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>

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

void executor_example(weft::runtime& rt) {
    // [snippet:executor]
    auto ex = rt.get_executor();  // a standard Asio executor over the runtime's workers
    std::promise<int> result;
    asio::post(ex, [&result] {
        // A handler on a worker: a runtime context but not a task. It must not wait, so it
        // spawns a task for the part that does.
        weft::spawn([&result] {
            weft::sleep_for(1ms);  // a task may suspend
            result.set_value(1);
        });
    });
    int r = result.get_future().get();  // 1
    // [end]
    expect(r == 1, "a handler spawns a task");
}

void strand_example(weft::runtime& rt) {
    // [snippet:strand]
    auto strand = asio::make_strand(rt.get_executor());  // serialises, on any worker
    int counter = 0;  // touched only by handlers on the strand: no lock
    std::promise<void> done;
    for (int i = 0; i < 1000; ++i) {
        asio::post(strand, [&] {
            if (++counter == 1000) done.set_value();
        });
    }
    done.get_future().wait();  // counter == 1000
    // [end]
    expect(counter == 1000, "a strand serialises");
}

void co_spawn_example(weft::runtime& rt) {
    // [snippet:co-spawn]
    auto [tx, rx] = weft::mpsc::channel<int>(4);
    auto producer = rt.spawn([tx = std::move(tx)] { tx.send(20); });
    std::future<int> f = asio::co_spawn(
        rt.get_executor(),
        [&rx, &producer]() -> asio::awaitable<int> {
            int v = co_await rx.async_recv(asio::use_awaitable);  // a weft channel, awaited
            co_await producer.async_join(asio::use_awaitable);    // a weft task, awaited
            co_return v + 1;
        },
        asio::use_future);
    int v = f.get();  // 21
    // [end]
    expect(v == 21, "co_spawn awaits weft primitives");
}

void use_fiber_example(weft::runtime& rt) {
    std::string echoed = rt.block_on([] {
        // [snippet:use-fiber]
        asio::ip::tcp::acceptor acceptor(weft::current_io_executor(),
                                         {asio::ip::make_address("127.0.0.1"), 0});
        auto server = weft::spawn([&acceptor] {
            asio::ip::tcp::socket s = acceptor.async_accept(weft::use_fiber);  // suspends
            char buf[5];
            asio::async_read(s, asio::buffer(buf), weft::use_fiber);
            asio::async_write(s, asio::buffer(buf), weft::use_fiber);
        });
        asio::ip::tcp::socket client(weft::current_io_executor());
        client.async_connect(acceptor.local_endpoint(), weft::use_fiber);
        asio::async_write(client, asio::buffer("hello", 5), weft::use_fiber);
        std::string reply(5, '\0');
        asio::async_read(client, asio::buffer(reply), weft::use_fiber);  // "hello"
        server.join();
        // [end]
        return reply;
    });
    expect(echoed == "hello", "use_fiber echo");

    bool refused = rt.block_on([] {
        asio::ip::tcp::acceptor closed(weft::current_io_executor(),
                                       {asio::ip::make_address("127.0.0.1"), 0});
        auto nobody = closed.local_endpoint();
        closed.close();
        // [snippet:use-fiber-ec]
        asio::ip::tcp::socket s(weft::current_io_executor());
        boost::system::error_code ec;
        s.async_connect(nobody, weft::use_fiber[ec]);  // the error lands in ec, not thrown
        if (ec == asio::error::connection_refused) {
            // try the next address, report, ...
        }
        // [end]
        return ec == asio::error::connection_refused;
    });
    expect(refused, "use_fiber[ec] stores the error");

    bool timed_out = rt.block_on([] {
        // [snippet:use-fiber-timeout]
        asio::steady_timer slow(weft::current_io_executor(), 1h);
        try {
            weft::timeout(5ms, [&] { slow.async_wait(weft::use_fiber); });
        } catch (const weft::elapsed&) {
            // the wait was cancelled through its cancellation slot and its handler has run
            return true;
        }
        // [end]
        return false;
    });
    expect(timed_out, "a timeout cancels a use_fiber operation");
}

void foreign_context_example(weft::runtime& rt) {
    // [snippet:foreign-context]
    asio::io_context legacy;  // an existing event loop with its own thread
    auto work = asio::make_work_guard(legacy);
    std::thread loop([&legacy] { legacy.run(); });

    rt.block_on([&legacy] {
        asio::steady_timer t(legacy, 2ms);  // an I/O object of the foreign io_context
        t.async_wait(weft::use_fiber);      // its handler runs on `loop` and wakes this task
    });

    auto [tx, rx] = weft::mpsc::channel<std::string>(1);
    std::promise<std::string> got;
    rx.async_recv(asio::bind_executor(legacy, [&got](boost::system::error_code ec, std::string v) {
        got.set_value(ec ? "closed" : v);  // callback code, on the legacy loop's thread
    }));
    rt.spawn([tx = std::move(tx)] { tx.send("from a task"); });
    std::string message = got.get_future().get();  // "from a task"

    work.reset();
    loop.join();
    // [end]
    expect(message == "from a task", "callback code receives from a task");
}

}  // namespace

int main() {
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    executor_example(rt);
    strand_example(rt);
    co_spawn_example(rt);
    use_fiber_example(rt);
    foreign_context_example(rt);
    std::printf("asio_interop: %s\n", ok ? "all as described" : "FAILED");
    return ok ? 0 : 1;
}
