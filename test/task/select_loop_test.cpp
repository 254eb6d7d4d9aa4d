// A loop branch gives the select race back (the Tokio rule: a future that took a value and
// awaits again owns that value; cancelling it is the user's concern). A branch that takes a
// value claims the select; when it starts its next consuming operation it releases the claim,
// so another branch can still end the select: the server-loop pattern
//     select([&] { for (;;) handle(listener.accept()); }, [&] { stop.cancelled(); })
// must stop. Every select here runs under a bounded weft::timeout and fails with a message;
// nothing taken is lost (values handled + values left in the channel == values sent).
#include "support/harness.hpp"

#include <weft/channel.hpp>
#include <weft/net.hpp>
#include <weft/sync.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <variant>

using namespace std::chrono_literals;

namespace {

constexpr auto bound = 10s;  // a hang is a failure

struct result {
    bool timed_out = false;
    std::size_t index = ~std::size_t{0};  // the select's winner
    std::size_t sent = 0;
    std::size_t handled = 0;
    std::size_t left = 0;  // still in the channel after the select
};

void check(const result& r, std::size_t want_index, const char* what) {
    INFO(what << ": winner " << r.index << ", sent " << r.sent << ", handled " << r.handled
              << ", left " << r.left);
    if (r.timed_out) FAIL("the select did not end within " << bound.count() << " s");
    CHECK(r.index == want_index);
    CHECK(r.handled + r.left == r.sent);
}

/// Aborts and awaits a helper task when the test body leaves early (the bound fired), so it
/// never outlives the locals it refers to.
struct joined_on_exit {
    weft::join_handle<void>& h;
    explicit joined_on_exit(weft::join_handle<void>& handle)
        : h(handle) {}
    joined_on_exit(const joined_on_exit&) = delete;
    joined_on_exit& operator=(const joined_on_exit&) = delete;
    ~joined_on_exit() {
        if (h.is_finished() || !std::uncaught_exceptions()) return;
        h.abort();
        try {
            h.join();
        } catch (...) {}
    }
};

/// Waits (bounded) until `c` reaches `n`.
bool wait_for_count(const std::atomic<std::size_t>& c, std::size_t n) {
    for (int i = 0; i < 5000; ++i) {
        if (c.load() >= n) return true;
        weft::sleep_for(1ms);
    }
    return false;
}

/// Runs `f` under the bound; `r` records whether the bound fired.
template <class F>
void bounded(result& r, F f) {
    try {
        weft::timeout(bound, f);
    } catch (const weft::elapsed&) {
        r.timed_out = true;
    }
}

/// Runs `body` on a 2-worker runtime under the bound.
template <class Body>
result run(Body body) {
    auto rt = weft::test::make_runtime();
    return rt.block_on([&body] {
        result r;
        bounded(r, [&] { body(r); });
        return r;
    });
}

/// The loop branch under test: receives and handles values until the channel ends.
auto recv_loop(weft::mpsc::receiver<std::size_t>& rx, std::atomic<std::size_t>& handled,
               std::chrono::milliseconds pause = 0ms) {
    return [&rx, &handled, pause] {
        for (;;) {
            std::optional<std::size_t> v = rx.recv();
            if (!v) return;
            handled.fetch_add(1);
            if (pause != 0ms) weft::sleep_for(pause);  // a non-consuming wait: claim still held
        }
    };
}

std::size_t drain(weft::mpsc::receiver<std::size_t>& rx) {
    std::size_t n = 0;
    while (rx.try_recv()) ++n;
    return n;
}

}  // namespace

TEST_CASE("a loop branch over mpsc recv lets a notify branch end the select",
          "[concurrency][select][loop]") {
    result r = run([](result& r) {
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(4);
        weft::notify stop;
        std::atomic<std::size_t> handled{0};
        r.sent = 10;
        auto driver = weft::spawn([&, tx = tx] {
            for (std::size_t i = 0; i < r.sent; ++i) tx.send(i);
            if (wait_for_count(handled, r.sent)) stop.notify_one();
        });
        joined_on_exit guard{driver};
        auto ev = weft::select(recv_loop(rx, handled), [&] { stop.notified(); });
        r.index = ev.index();
        driver.join();
        r.handled = handled.load();
        r.left = drain(rx);
    });
    check(r, 1, "recv loop vs notified");
}

TEST_CASE("a loop branch over mpsc recv lets a oneshot branch end the select",
          "[concurrency][select][loop]") {
    result r = run([](result& r) {
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(4);
        auto [done_tx, done_rx] = weft::oneshot::channel<int>();
        std::atomic<std::size_t> handled{0};
        r.sent = 10;
        auto driver = weft::spawn([&, tx = tx, done_tx = std::move(done_tx)]() mutable {
            for (std::size_t i = 0; i < r.sent; ++i) tx.send(i);
            if (wait_for_count(handled, r.sent)) done_tx.send(7);
        });
        joined_on_exit guard{driver};
        auto ev = weft::select(recv_loop(rx, handled), [&] { return done_rx.recv(); });
        r.index = ev.index();
        if (ev.index() == 1 && std::get<1>(ev) != 7) r.index = 99;
        driver.join();
        r.handled = handled.load();
        r.left = drain(rx);
    });
    check(r, 1, "recv loop vs oneshot recv");
}

TEST_CASE("a loop branch over mpsc recv lets a returning sleep branch end the select",
          "[concurrency][select][loop]") {
    // The producer keeps the loop branch busy (it takes a value every millisecond) well past
    // the sleep branch's end: the sleep branch must win at the loop's next recv.
    result r = run([](result& r) {
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(4);
        std::atomic<std::size_t> handled{0};
        std::atomic<bool> stop{false};
        std::atomic<std::size_t> sent{0};
        auto driver = weft::spawn([&, tx = tx] {
            for (std::size_t i = 0; i < 3000 && !stop.load(); ++i) {
                tx.send(i);
                sent.fetch_add(1);
                weft::sleep_for(1ms);
            }
        });
        joined_on_exit guard{driver};
        auto ev = weft::select(recv_loop(rx, handled), [] { weft::sleep_for(50ms); });
        r.index = ev.index();
        stop.store(true);
        driver.join();
        r.sent = sent.load();
        r.handled = handled.load();
        r.left = drain(rx);
    });
    check(r, 1, "recv loop vs sleep_for");
}

// The accept loop every service has, raced against a branch that waits on `Stop`: clients
// connect r.sent times, each waits for the server's reply, and `fire` ends the select once
// every connection was handled. The loop branch must give the race back at each accept, or
// the stop branch could never win.
template <class Stop, class Fire, class Wait>
result accept_loop_against(Fire fire, Wait wait) {
    return run([&](result& r) {
        auto l = weft::net::tcp_listener::bind("127.0.0.1:0");
        auto ep = l.local_addr();
        Stop stop;
        std::atomic<std::size_t> accepted{0};
        r.sent = 5;
        auto clients = weft::spawn([&] {
            for (std::size_t i = 0; i < r.sent; ++i) {
                auto c = weft::net::tcp_stream::connect(ep);
                std::string line;
                c.read_line(line);  // the server's reply: the connection was handled
            }
            if (wait_for_count(accepted, r.sent)) fire(stop);
        });
        joined_on_exit guard{clients};
        auto ev = weft::select(
            [&] {
                for (;;) {
                    auto s = l.accept();
                    s.write_all(boost::asio::buffer(std::string("hi\n")));
                    accepted.fetch_add(1);
                }
            },
            [&] { wait(stop); });
        r.index = ev.index();
        clients.join();
        r.handled = accepted.load();
    });
}

TEST_CASE("a loop branch over tcp accept lets a cancellation token end the select",
          "[concurrency][select][loop][net]") {
    result r = accept_loop_against<weft::cancellation_token>(
        [](weft::cancellation_token& t) { t.cancel(); },
        [](weft::cancellation_token& t) { t.cancelled(); });
    check(r, 1, "accept loop vs cancellation_token");
}

TEST_CASE("a loop branch over tcp accept lets a notify branch end the select",
          "[concurrency][select][loop][net]") {
    result r = accept_loop_against<weft::notify>([](weft::notify& n) { n.notify_one(); },
                                                 [](weft::notify& n) { n.notified(); });
    check(r, 1, "accept loop vs notified");
}

TEST_CASE("a branch refused while a loop branch holds the claim wins at the loop's next recv",
          "[concurrency][select][loop]") {
    // The loop branch takes a value, then sleeps 50 ms (a non-consuming wait: it still holds
    // the claim). The notification comes during that sleep, so notify_one's grant is refused;
    // the loser must wait for the reopen, not for ever, and win once the loop recvs again.
    result r = run([](result& r) {
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(4);
        weft::notify stop;
        std::atomic<std::size_t> handled{0};
        r.sent = 3;
        auto driver = weft::spawn([&, tx = tx] {
            tx.send(0);
            if (!wait_for_count(handled, 1)) return;
            weft::sleep_for(5ms);  // the notified branch is parked, the loop branch sleeps
            stop.notify_one();     // refused: the loop branch holds the claim
            tx.send(1);
            tx.send(2);
        });
        joined_on_exit guard{driver};
        auto ev = weft::select(recv_loop(rx, handled, 50ms), [&] { stop.notified(); });
        r.index = ev.index();
        driver.join();
        r.handled = handled.load();
        r.left = drain(rx);
    });
    check(r, 1, "recv loop (sleeping) vs notified");
}

TEST_CASE("an mpsc recv refused while a loop branch holds the claim gets its value later",
          "[concurrency][select][loop]") {
    // As above with a second channel: the value sent to the refused branch goes to the buffer
    // and the branch receives it after the reopen.
    result r = run([](result& r) {
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(4);
        auto [tx2, rx2] = weft::mpsc::channel<std::size_t>(4);
        std::atomic<std::size_t> handled{0};
        r.sent = 3;
        auto driver = weft::spawn([&, tx = tx, tx2 = tx2] {
            tx.send(0);
            if (!wait_for_count(handled, 1)) return;
            weft::sleep_for(5ms);
            tx2.send(42);  // refused: the loop branch holds the claim
            tx.send(1);
            tx.send(2);
        });
        joined_on_exit guard{driver};
        auto ev = weft::select(recv_loop(rx, handled, 50ms), [&] { return rx2.recv(); });
        r.index = ev.index();
        if (ev.index() == 1 && std::get<1>(ev) != std::optional<std::size_t>(42)) r.index = 99;
        driver.join();
        r.handled = handled.load();
        r.left = drain(rx);
    });
    check(r, 1, "recv loop (sleeping) vs recv");
}

TEST_CASE("an ending branch refused while a loop branch holds the claim wins later",
          "[concurrency][select][loop]") {
    // The sleep branch ends (10 ms) while the loop branch sleeps holding its claim (50 ms):
    // it must wait for the reopen and win at the loop's next recv.
    result r = run([](result& r) {
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(4);
        std::atomic<std::size_t> handled{0};
        r.sent = 3;
        for (std::size_t i = 0; i < r.sent; ++i) tx.send(i);
        auto ev = weft::select(recv_loop(rx, handled, 50ms), [] { weft::sleep_for(10ms); });
        r.index = ev.index();
        r.handled = handled.load();
        r.left = drain(rx);
    });
    check(r, 1, "recv loop (sleeping) vs sleep_for");
}

TEST_CASE("a loop branch in a nested select gives the outer race back",
          "[concurrency][select][loop]") {
    result r = run([](result& r) {
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(4);
        weft::notify stop;
        weft::notify never;
        std::atomic<std::size_t> handled{0};
        r.sent = 10;
        auto driver = weft::spawn([&, tx = tx] {
            for (std::size_t i = 0; i < r.sent; ++i) tx.send(i);
            if (wait_for_count(handled, r.sent)) stop.notify_one();
        });
        joined_on_exit guard{driver};
        auto ev = weft::select(
            [&] { return weft::select(recv_loop(rx, handled), [&] { never.notified(); }).index(); },
            [&] { stop.notified(); });
        r.index = ev.index();
        driver.join();
        r.handled = handled.load();
        r.left = drain(rx);
    });
    check(r, 1, "nested recv loop vs notified");
}

TEST_CASE("a loop branch whose next value is always ready still lets a sibling win",
          "[concurrency][select][loop]") {
    // A million values are buffered before the select: the loop branch never waits. It gives
    // the race back at each recv, before the cooperative budget makes it yield, so the sleep
    // branch (it ends after 2 ms, refused while the loop holds a value) gets the race at one
    // of those yields, long before the buffer is drained. Only the select is bounded: under a
    // sanitizer on a loaded machine, filling the buffer alone can take seconds.
    auto rt = weft::test::make_runtime();
    result r = rt.block_on([] {
        result r;
        r.sent = 1000000;
        auto [tx, rx] = weft::mpsc::channel<std::size_t>(r.sent);
        for (std::size_t i = 0; i < r.sent; ++i) tx.send(i);
        std::atomic<std::size_t> handled{0};
        bounded(r, [&] {
            auto ev = weft::select(recv_loop(rx, handled), [] { weft::sleep_for(2ms); });
            r.index = ev.index();
        });
        r.handled = handled.load();
        r.left = drain(rx);
        return r;
    });
    check(r, 1, "always-ready recv loop vs sleep_for");
    CHECK(r.left > 0);  // the sleep branch won before the loop drained the channel
}
