// Guide sample (docs/guide/porting-from-tokio.md): Tokio idioms in weft: the main runtime, a
// select! loop, a TCP echo server, a paused-clock test, a graceful shutdown with a
// task_tracker, StreamMap done with forwarding tasks, a watch sender shared by tasks. Snippet
// regions as in tasks.cpp; exits non-zero if something did not behave as the guide says.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>

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

// [snippet:tokio-main]
int app_main() {  // #[tokio::main(worker_threads = 2)] async fn main()
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    return rt.block_on([] {
        auto h = weft::spawn([] { return 1 + 1; });  // tokio::spawn(async { 1 + 1 })
        return h.join() == 2 ? 0 : 1;                // h.await.unwrap()
    });
}
// [end]

void select_loop() {
    auto [tx, rx] = weft::mpsc::channel<int>(8);
    auto producer = weft::spawn([tx = std::move(tx)] {
        for (int i = 1; i <= 3; ++i) {
            weft::sleep_for(30ms);
            tx.send(i);
        }
    });
    // [snippet:select-loop]
    int sum = 0, idle_ticks = 0;
    for (;;) {  // loop { select! { v = rx.recv() => ..., _ = sleep(10ms) => ... } }
        auto ev = weft::select([&] { return rx.recv(); },       // cancel-safe: loses nothing
                               [] { weft::sleep_for(10ms); });  // an idle timer
        if (ev.index() == 1) {
            ++idle_ticks;
            continue;
        }
        std::optional<int> v = std::get<0>(ev);
        if (!v) break;  // every sender is gone
        sum += *v;
    }
    // sum == 6; idle_ticks > 0
    // [end]
    producer.join();
    expect(sum == 6 && idle_ticks > 0,
           "select loop: every value arrives (recv loses nothing as a select loser)");
}

void select_ops_loop() {
    auto [tx, rx] = weft::mpsc::channel<int>(8);
    auto producer = weft::spawn([tx = std::move(tx)] {
        for (int i = 1; i <= 3; ++i) {
            weft::sleep_for(30ms);
            tx.send(i);
        }
    });
    // [snippet:select-ops]
    weft::interval ticker(10ms);
    int sum = 0, ticks = 0;
    for (;;) {  // loop { select! { v = rx.recv() => ..., _ = ticker.tick() => ... } }
        auto ev = weft::select(rx.recv_op(), ticker.tick_op());  // no fiber per branch
        if (ev.index() == 1) {
            ++ticks;
            continue;
        }
        std::optional<int> v = std::get<0>(ev);
        if (!v) break;  // every sender is gone
        sum += *v;
    }
    // sum == 6; ticks > 0
    // [end]
    producer.join();
    expect(sum == 6 && ticks > 0, "select over operations: every value arrives");
}

void echo_server() {
    // [snippet:tcp-echo]
    auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");  // TcpListener::bind
    auto server = weft::spawn([&listener] {
        for (;;) {
            weft::net::tcp_stream conn = listener.accept();
            weft::spawn([conn = std::move(conn)]() mutable {  // a task per connection
                char buf[1024];
                while (std::size_t n = conn.read_some(asio::buffer(buf))) {  // 0: peer closed
                    conn.write_all(asio::buffer(buf, n));
                }
            });
        }
    });
    auto client =
        weft::net::tcp_stream::connect("127.0.0.1:" + std::to_string(listener.local_addr().port()));
    client.write_all(asio::buffer("ping", 4));
    std::string reply(4, '\0');
    client.read_exact(asio::buffer(reply));  // "ping"
    server.abort();                          // the accept loop ends at its next cancellation point
    // [end]
    expect(reply == "ping", "echo server");
    try {
        server.join();
    } catch (const weft::join_error&) {}
}

}  // namespace

// [snippet:paused-test]
bool one_hour_test() {  // #[tokio::test(start_paused = true)]
    weft::runtime rt = weft::builder::current_thread().start_paused(true).build();
    return rt.block_on([] {
        auto start = weft::time::now();
        weft::sleep_for(1h);  // returns at once: idle, the clock jumps to the next timer
        return weft::time::now() - start >= 1h;
    });
}
// [end]

void graceful_shutdown() {
    // [snippet:graceful-shutdown]
    weft::cancellation_token stop;
    weft::task_tracker tracker;  // tokio_util::task::TaskTracker
    for (int i = 0; i < 4; ++i) {
        tracker.spawn([stop] {  // a worker that runs until asked to stop
            while (!stop.is_cancelled()) weft::sleep_for(1ms);
        });
    }
    stop.cancel();                         // ask every worker to finish
    tracker.close();                       // no more tasks will be added
    bool all_done = tracker.wait_for(5s);  // false: some task did not end in time
    // [end]
    expect(all_done && tracker.is_empty(), "graceful-shutdown");
}

void stream_map() {
    // [snippet:stream-map]
    // StreamMap<K, ReceiverStream<T>>: one forwarding task per source, tagged with its key,
    // into a single channel; ends when every source and forwarder is gone.
    auto [a_tx, a_rx] = weft::mpsc::channel<int>(8);
    auto [b_tx, b_rx] = weft::mpsc::channel<int>(8);
    auto [all_tx, all_rx] = weft::mpsc::channel<std::pair<std::string, int>>(8);
    weft::join_set<void> forwarders;
    auto forward = [&forwarders](std::string key, weft::mpsc::receiver<int> rx,
                                 weft::mpsc::sender<std::pair<std::string, int>> out) {
        forwarders.spawn(
            [key = std::move(key), rx = std::move(rx), out = std::move(out)]() mutable {
                while (auto v = rx.recv()) out.send({key, *v});
            });
    };
    forward("a", std::move(a_rx), all_tx);
    forward("b", std::move(b_rx), std::move(all_tx));
    a_tx.send(1);
    b_tx.send(2);
    { auto drop_a = std::move(a_tx), drop_b = std::move(b_tx); }  // both sources end
    int sum = 0;
    while (auto kv = all_rx.recv()) sum += kv->second;  // ("a", 1) and ("b", 2), any order
    // [end]
    expect(sum == 3, "stream-map");
}

void shared_watch() {
    // [snippet:shared-watch]
    // A watch::Sender used by several tasks: weft's watch::sender is single and move-only,
    // but its send() is const and thread-safe, so share it through a std::shared_ptr. The
    // channel closes when the last copy of the pointer is gone.
    auto [tx, rx] = weft::watch::channel<int>(0);
    auto shared_tx = std::make_shared<weft::watch::sender<int>>(std::move(tx));
    auto a = weft::spawn([shared_tx] { shared_tx->send_modify([](int& v) { v += 1; }); });
    auto b = weft::spawn([shared_tx] { shared_tx->send_modify([](int& v) { v += 10; }); });
    a.join();
    b.join();
    shared_tx.reset();        // the tasks' copies are gone too: the channel is closed
    int seen = *rx.borrow();  // 11
    // [end]
    expect(seen == 11, "shared-watch");
}

int main() {
    expect(app_main() == 0, "tokio-main");
    expect(one_hour_test(), "paused clock");
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    rt.block_on([] {
        select_loop();
        select_ops_loop();
        echo_server();
        graceful_shutdown();
        stream_map();
        shared_watch();
    });
    // The select loop again on a paused, seeded runtime: the producer's and the idle timer's
    // deadlines coincide (30 ms), so a value and the timer arrive together, in an order each
    // seed fixes. Instant, and reproducible where the run above depends on timing.
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        auto paused = weft::builder::current_thread().start_paused(true).seed(seed).build();
        paused.block_on([] {
            select_loop();
            select_ops_loop();
        });
    }
    std::printf("porting: %s\n", ok ? "all as described" : "FAILED");
    return ok ? 0 : 1;
}
