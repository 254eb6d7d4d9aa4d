// Abort storms: many tasks parked in one kind of wait are all aborted at once, then every
// permit, lock and message is accounted for and no task is left alive. One test case per kind
// of wait: sleep, join, mpsc send and recv, mutex, semaphore, condition_variable, broadcast,
// watch, and a TCP read on loopback with silent peers.
#include "stress/stress_support.hpp"

#include <weft/channel.hpp>
#include <weft/net.hpp>
#include <weft/sync.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/buffer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

struct storm_outcome {
    std::size_t n = 0, parked = 0, cancelled = 0, finished = 0, failed = 0;
    long long ms = 0;
};

// Spawns n tasks running body(i), waits until all n are parked in `what`, aborts them all and
// joins them, sorting each result into cancelled / finished / failed.
template <class Body>
storm_outcome storm(weft::runtime& rt, std::size_t n, std::string_view what, Body body) {
    storm_outcome out;
    out.n = n;
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) hs.push_back(rt.spawn([&body, i] { body(i); }));
    out.parked = weft::stress::wait_parked(rt, what, n);
    auto t0 = std::chrono::steady_clock::now();
    for (auto& h : hs) h.abort();
    rt.block_on([&] {
        for (auto& h : hs) {
            try {
                h.join();
                ++out.finished;
            } catch (const weft::join_error& e) {
                if (e.is_cancelled()) {
                    ++out.cancelled;
                } else {
                    ++out.failed;
                }
            }
        }
    });
    out.ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    return out;
}

void check_all_cancelled(const storm_outcome& o, std::string_view what) {
    INFO("waiting in " << what);
    CHECK(o.parked == o.n);
    CHECK(o.cancelled == o.n);
    CHECK(o.finished == 0);
    CHECK(o.failed == 0);
    weft::stress::report("abort storm: {} tasks parked in {} aborted at once, {} cancelled, "
                         "abort+join {} ms",
                         o.n, what, o.cancelled, o.ms);
}

std::size_t storm_size() { return weft::stress::live_size(100'000, 10); }

}  // namespace

TEST_CASE("abort storm: tasks parked in sleep", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    auto o = storm(rt, storm_size(), "sleep", [](std::size_t) { weft::sleep_for(1h); });
    check_all_cancelled(o, "sleep");
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: tasks parked in join on another task", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    const std::size_t n = storm_size() / 2;  // n joiners and n targets: storm_size() tasks
    weft::cancellation_token release;
    std::atomic<std::size_t> targets_done{0};
    std::vector<std::optional<weft::join_handle<int>>> targets(n);
    for (std::size_t i = 0; i < n; ++i) {
        targets[i] = rt.spawn([&release, &targets_done, i] {
            release.cancelled();
            targets_done.fetch_add(1);
            return static_cast<int>(i);
        });
    }
    auto o = storm(rt, n, "join", [&targets](std::size_t i) { (void)targets[i]->join(); });
    check_all_cancelled(o, "join_handle::join");
    // An interrupted join consumed nothing: each target's result is still there for a second
    // join, after the target is released.
    release.cancel();
    std::size_t ok = rt.block_on([&] {
        std::size_t good = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (targets[i]->join() == static_cast<int>(i)) ++good;
        }
        return good;
    });
    CHECK(ok == n);
    CHECK(targets_done.load() == n);
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: senders parked on a full bounded mpsc channel", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    constexpr std::size_t cap = 16;
    auto [tx, rx] = weft::mpsc::channel<std::uint64_t>(cap);
    std::uint64_t preload_sum = 0;
    for (std::uint64_t v = 1; v <= cap; ++v) {
        REQUIRE(tx.try_send(std::uint64_t(v)) == weft::mpsc::send_status::ok);
        preload_sum += v;
    }
    std::atomic<std::uint64_t> sent_n{0}, sent_sum{0};
    auto o = storm(rt, storm_size(), "mpsc::send", [&, tx = tx](std::size_t i) {
        std::uint64_t v = 1000 + i;
        tx.send(v);
        sent_n += 1;
        sent_sum += v;
    });
    check_all_cancelled(o, "mpsc::send");
    // sent == received + still buffered: nothing was received, so the buffer holds exactly the
    // preload plus whatever a send delivered (none: every sender was cancelled while full).
    std::uint64_t got_n = 0, got_sum = 0;
    while (auto v = rx.try_recv()) {
        ++got_n;
        got_sum += *v;
    }
    CHECK(got_n == cap + sent_n.load());
    CHECK(got_sum == preload_sum + sent_sum.load());
    CHECK(sent_n.load() == 0);
    // The aborted senders left no waiter behind: the channel takes cap values again, no more.
    for (std::uint64_t v = 0; v < cap; ++v)
        CHECK(tx.try_send(std::uint64_t(v)) == weft::mpsc::send_status::ok);
    CHECK(tx.try_send(std::uint64_t(99)) == weft::mpsc::send_status::full);
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: receivers parked in mpsc recv with one channel each", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    const std::size_t n = storm_size();
    std::vector<weft::mpsc::sender<std::uint64_t>> txs;
    std::vector<weft::mpsc::receiver<std::uint64_t>> rxs;
    txs.reserve(n);
    rxs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto [tx, rx] = weft::mpsc::channel<std::uint64_t>(1);
        txs.push_back(std::move(tx));
        rxs.push_back(std::move(rx));
    }
    std::atomic<std::size_t> received{0};
    auto o = storm(rt, n, "mpsc::recv", [&](std::size_t i) {
        if (rxs[i].recv()) received += 1;
    });
    check_all_cancelled(o, "mpsc::recv");
    // The cancelled receivers left the channels intact: a value sent now is there for
    // try_recv, and the channel is not closed.
    std::size_t delivered = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (txs[i].try_send(std::uint64_t(i)) != weft::mpsc::send_status::ok) continue;
        auto v = rxs[i].try_recv();
        if (v && *v == i) ++delivered;
    }
    CHECK(delivered == n);
    CHECK(received.load() == 0);
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: tasks parked in mutex lock", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    weft::mutex m;
    REQUIRE(m.try_lock());  // held by the test thread (unlock may come from any thread)
    std::atomic<std::size_t> acquired{0};
    auto o = storm(rt, storm_size(), "mutex::lock", [&](std::size_t) {
        std::lock_guard g(m);
        acquired += 1;
    });
    check_all_cancelled(o, "mutex::lock");
    m.unlock();
    // No cancelled waiter kept a claim on the lock: it is free now, and only once.
    CHECK(m.try_lock());
    CHECK_FALSE(m.try_lock());
    m.unlock();
    CHECK(acquired.load() == 0);
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: tasks parked in semaphore acquire", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    constexpr std::size_t initial = 8;
    weft::semaphore sem(initial);
    std::optional<weft::semaphore_permit> all = sem.try_acquire(initial);
    REQUIRE(all.has_value());
    std::atomic<std::size_t> acquired{0};
    auto o = storm(rt, storm_size(), "semaphore::acquire", [&](std::size_t i) {
        auto p = sem.acquire(1 + i % 3);
        acquired += 1;
    });
    check_all_cancelled(o, "semaphore::acquire");
    all.reset();
    CHECK(sem.available_permits() == initial);
    auto again = sem.try_acquire(initial);
    CHECK(again.has_value());
    CHECK(acquired.load() == 0);
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: tasks parked in condition_variable wait", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    weft::mutex m;
    weft::condition_variable cv;
    bool ready = false;
    std::atomic<std::size_t> woke{0};
    auto o = storm(rt, storm_size(), "condition_variable::wait", [&](std::size_t) {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return ready; });
        woke += 1;
    });
    check_all_cancelled(o, "condition_variable::wait");
    // Each cancelled wait re-acquired the mutex before throwing and released it unwinding.
    CHECK(m.try_lock());
    m.unlock();
    CHECK(woke.load() == 0);
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: receivers parked in broadcast recv", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    const std::size_t n = storm_size();
    auto [tx, rx0] = weft::broadcast::channel<std::uint64_t>(16);
    std::vector<std::optional<weft::broadcast::receiver<std::uint64_t>>> rxs(n);
    for (auto& r : rxs) r.emplace(tx.subscribe());
    std::atomic<std::size_t> got{0};
    auto o = storm(rt, n, "broadcast::recv", [&](std::size_t i) {
        (void)rxs[i]->recv();
        got += 1;
    });
    check_all_cancelled(o, "broadcast::recv");
    CHECK(got.load() == 0);
    // The cancelled receivers still work and missed nothing: a value sent now reaches each.
    CHECK(tx.send(7) == n + 1);
    std::size_t seen = 0;
    for (auto& r : rxs) {
        auto v = r->try_recv();
        if (v && *v == 7) ++seen;
    }
    CHECK(seen == n);
    rxs.clear();
    CHECK(tx.receiver_count() == 1);
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: receivers parked in watch changed", "[stress][abort]") {
    auto rt = weft::test::make_runtime();
    const std::size_t n = storm_size();
    auto [tx, rx0] = weft::watch::channel<int>(0);
    std::vector<std::optional<weft::watch::receiver<int>>> rxs(n);
    for (auto& r : rxs) r.emplace(tx.subscribe());
    auto o = storm(rt, n, "watch::changed", [&](std::size_t i) { rxs[i]->changed(); });
    check_all_cancelled(o, "watch::changed");
    // The cancelled waits marked nothing seen: after a send, every receiver has a change.
    tx.send(1);
    std::size_t changed = 0;
    for (auto& r : rxs) {
        if (r->has_changed() && *r->borrow_and_update() == 1) ++changed;
    }
    CHECK(changed == n);
    CHECK(weft::stress::wait_no_tasks(rt));
}

TEST_CASE("abort storm: tasks parked in tcp read_some with silent peers", "[stress][abort][io]") {
    // Two descriptors per connection (both ends live in this process) plus the runtime's own:
    // the soft RLIMIT_NOFILE is raised up to the hard limit if it is lower than that.
    const std::size_t conns = weft::stress::size(1000, 10);
    const std::size_t limit = weft::stress::raise_fd_limit(2 * conns + 256);
    REQUIRE(limit >= 2 * conns + 64);
    auto rt = weft::test::make_runtime();
    const std::size_t fds0 = weft::stress::open_fds();
    auto listener = rt.block_on([] { return weft::net::tcp_listener::bind("127.0.0.1:0"); });
    auto ep = listener.local_addr();
    // The server side accepts every connection and stays silent.
    std::vector<weft::net::tcp_stream> server_side;
    server_side.reserve(conns);
    auto server = rt.spawn([&] {
        for (std::size_t i = 0; i < conns; ++i) server_side.push_back(listener.accept());
    });
    std::atomic<std::size_t> connected{0}, read_bytes{0};
    storm_outcome o;
    {
        o.n = conns;
        std::vector<weft::join_handle<void>> hs;
        for (std::size_t i = 0; i < conns; ++i) {
            hs.push_back(rt.spawn([&] {
                auto s = weft::net::tcp_stream::connect(ep);
                connected += 1;
                char buf[64];
                read_bytes += s.read_some(asio::buffer(buf));
            }));
        }
        rt.block_on([&] { server.join(); });
        o.parked = weft::stress::wait_parked(rt, "tcp_stream::read_some", conns);
        for (auto& h : hs) h.abort();
        rt.block_on([&] {
            for (auto& h : hs) {
                try {
                    h.join();
                    ++o.finished;
                } catch (const weft::join_error& e) {
                    (e.is_cancelled() ? o.cancelled : o.failed) += 1;
                }
            }
        });
    }
    check_all_cancelled(o, "tcp_stream::read_some");
    CHECK(connected.load() == conns);
    CHECK(read_bytes.load() == 0);
    // The cancelled readers closed their sockets while unwinding: each server side reads end
    // of stream now.
    std::size_t eofs = rt.block_on([&] {
        std::size_t e = 0;
        for (auto& s : server_side) {
            char b;
            try {
                if (s.read_some(asio::buffer(&b, 1)) == 0) ++e;
            } catch (const boost::system::system_error&) {
                ++e;  // a reset is an end too
            }
        }
        return e;
    });
    CHECK(eofs == conns);
    rt.block_on([&] {
        server_side.clear();
        auto drop = std::move(listener);
    });
    // No descriptor leaked (a few may belong to the runtime's reactors created meanwhile, and
    // two to each worker's io_uring ring, set up on a task's first transfer: the ring and its
    // eventfd).
    CHECK(weft::stress::open_fds() <= fds0 + 8 + 2 * 2);
    CHECK(weft::stress::wait_no_tasks(rt));
    weft::stress::report("socket storm: soft RLIMIT_NOFILE {} (raised if it was lower)", limit);
}
