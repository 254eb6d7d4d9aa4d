// weft::mpsc: what Tokio's tests/sync_mpsc.rs checks, plus weft's cancel-safety and Asio forms.
#include "channel/channel_test_util.hpp"

#include <weft/channel.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using weft::mpsc::send_status;
using weft::test::eventually;
using weft::test::lifetime_counter;

TEST_CASE("mpsc: values arrive in order through a bounded channel", "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    auto got = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(16);
        auto h = weft::spawn([tx = tx] {
            for (int i = 0; i < 1000; ++i) tx.send(i);
        });
        { auto drop = std::move(tx); }
        std::vector<int> v;
        while (auto x = rx.recv()) v.push_back(*x);
        h.join();
        return v;
    });
    REQUIRE(got.size() == 1000);
    for (int i = 0; i < 1000; ++i) CHECK(got[i] == i);
}

TEST_CASE("mpsc: each sender's values stay in its order, none lost", "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    constexpr int senders = 5, per = 2000;
    auto got = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<std::pair<int, int>>(8);
        for (int s = 0; s < senders; ++s) {
            weft::spawn([tx = tx, s] {
                for (int i = 0; i < per; ++i) tx.send({s, i});
            });
        }
        { auto drop = std::move(tx); }
        std::vector<std::pair<int, int>> v;
        while (auto x = rx.recv()) v.push_back(*x);
        return v;
    });
    REQUIRE(got.size() == senders * per);
    std::vector<int> next(senders, 0);
    bool ordered = true;
    for (auto [s, i] : got) {
        if (next[s] != i) ordered = false;
        next[s] = i + 1;
    }
    CHECK(ordered);
    for (int s = 0; s < senders; ++s) CHECK(next[s] == per);
}

TEST_CASE("mpsc: a full bounded channel parks the sender until a recv", "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    struct result {
        int sent_before, sent_after_settle, first, sent_after_recv;
        send_status try_after_recv;
    };
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(2);
        std::atomic<int> sent{0};
        auto h = weft::spawn([&, tx = tx] {
            for (int i = 0; i < 3; ++i) {
                tx.send(i);
                sent++;
            }
        });
        result out{};
        eventually([&] { return sent.load() == 2; });
        out.sent_before = sent.load();
        weft::test::settle();
        out.sent_after_settle = sent.load();  // still 2: the third send is parked
        out.first = *rx.recv();
        // The parked sender's value took the freed slot (no barging past it).
        int probe = 99;
        out.try_after_recv = tx.try_send(std::move(probe));
        eventually([&] { return sent.load() == 3; });
        out.sent_after_recv = sent.load();
        h.join();
        return out;
    });
    CHECK(r.sent_before == 2);
    CHECK(r.sent_after_settle == 2);
    CHECK(r.first == 0);
    CHECK(r.try_after_recv == send_status::full);
    CHECK(r.sent_after_recv == 3);
}

TEST_CASE("mpsc: try_send reports ok, full and closed and leaves the value untouched",
          "[channel][mpsc]") {
    auto [tx, rx] = weft::mpsc::channel<std::unique_ptr<int>>(1);
    auto a = std::make_unique<int>(1);
    CHECK(tx.try_send(std::move(a)) == send_status::ok);
    CHECK(a == nullptr);
    auto b = std::make_unique<int>(2);
    CHECK(tx.try_send(std::move(b)) == send_status::full);
    REQUIRE(b != nullptr);
    CHECK(*b == 2);
    CHECK(*rx.try_recv().value() == 1);
    CHECK_FALSE(rx.try_recv().has_value());
    rx.close();
    CHECK(tx.is_closed());
    CHECK(tx.try_send(std::move(b)) == send_status::closed);
    REQUIRE(b != nullptr);
    CHECK(*b == 2);
}

TEST_CASE("mpsc: capacity 0 is rejected", "[channel][mpsc]") {
    CHECK_THROWS_AS(weft::mpsc::channel<int>(0), std::invalid_argument);
    try {
        weft::mpsc::channel<int>(0);
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("capacity") != std::string::npos);
    }
}

TEST_CASE("mpsc: close lets buffered values drain, then recv ends", "[channel][mpsc]") {
    auto [tx, rx] = weft::mpsc::channel<int>(8);
    tx.send(1);
    tx.send(2);
    rx.close();
    CHECK(tx.is_closed());
    CHECK_THROWS_AS(tx.send(3), weft::channel_closed);
    CHECK(rx.recv() == 1);
    CHECK(rx.recv() == 2);
    CHECK_FALSE(rx.recv().has_value());
    CHECK_FALSE(rx.recv().has_value());
}

TEST_CASE("mpsc: send_error carries the unsent value back", "[channel][mpsc]") {
    auto [tx, rx] = weft::mpsc::channel<std::unique_ptr<std::string>>(1);
    { auto gone = std::move(rx); }
    CHECK(tx.is_closed());
    try {
        tx.send(std::make_unique<std::string>("kept"));
        FAIL("send did not throw");
    } catch (const weft::mpsc::send_error<std::unique_ptr<std::string>>& e) {
        CHECK(e.code() == weft::error::channel_closed);
        REQUIRE(e.value() != nullptr);
        CHECK(*e.value() == "kept");
    }
    // Also catchable as channel_closed.
    CHECK_THROWS_AS(tx.send(std::make_unique<std::string>("x")), weft::channel_closed);
}

TEST_CASE("mpsc: a parked sender gets its value back when the receiver goes", "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<std::string>(1);
        tx.send("first");
        auto h = weft::spawn([tx = tx]() -> std::string {
            try {
                tx.send("second");
            } catch (const weft::mpsc::send_error<std::string>& e) {
                return e.value();
            }
            return "sent";
        });
        weft::test::settle();
        { auto gone = std::move(rx); }
        return h.join();
    });
    CHECK(r == "second");
}

TEST_CASE("mpsc: recv ends when the last sender (of several copies) goes", "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(4);
        auto tx2 = tx;
        auto h = weft::spawn([rx = std::move(rx)]() mutable {
            int n = 0;
            while (rx.recv()) ++n;
            return n;  // returns only once every sender is gone
        });
        tx.send(1);
        { auto drop = std::move(tx); }
        weft::test::settle();
        bool still_running = !h.is_finished();
        tx2.send(2);
        { auto drop = std::move(tx2); }
        return std::make_pair(still_running, h.join());
    });
    CHECK(r.first);
    CHECK(r.second == 2);
}

TEST_CASE("mpsc: closed() waits for the receiver to go", "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(1);
        auto h = weft::spawn([tx = tx] { tx.closed(); });
        weft::test::settle();
        bool waited = !h.is_finished();
        { auto gone = std::move(rx); }
        h.join();
        tx.closed();  // already closed: returns at once
        return waited;
    });
    CHECK(r);
}

TEST_CASE("mpsc: recv_many takes what is there, up to the limit", "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(8);
        std::vector<int> out;
        std::vector<std::size_t> counts;
        for (int i = 0; i < 5; ++i) tx.send(i);
        counts.push_back(rx.recv_many(out, 3));  // 3: 0 1 2
        counts.push_back(rx.recv_many(out, 0));  // limit 0
        counts.push_back(rx.recv_many(out, 8));  // 2: 3 4
        // Waits for at least one.
        auto h = weft::spawn([tx = tx] {
            weft::sleep_for(10ms);
            tx.send(5);
        });
        counts.push_back(rx.recv_many(out, 8));
        h.join();
        { auto drop = std::move(tx); }
        counts.push_back(rx.recv_many(out, 8));  // closed and drained
        return std::make_pair(out, counts);
    });
    CHECK(r.first == std::vector<int>{0, 1, 2, 3, 4, 5});
    CHECK(r.second == std::vector<std::size_t>{3, 0, 2, 1, 0});
}

TEST_CASE("mpsc: recv_many refills from parked senders in FIFO order", "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    auto out = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(2);
        auto h = weft::spawn([tx = tx] {
            for (int i = 0; i < 6; ++i) tx.send(i);
        });
        { auto drop = std::move(tx); }
        std::vector<int> v;
        while (rx.recv_many(v, 4) != 0) {}
        h.join();
        return v;
    });
    CHECK(out == std::vector<int>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("mpsc: unbounded send never waits; dropping the receiver drops the values",
          "[channel][mpsc]") {
    lifetime_counter::alive = 0;
    {
        auto [tx, rx] = weft::mpsc::unbounded_channel<lifetime_counter>();
        for (int i = 0; i < 10000; ++i) tx.send(lifetime_counter{});
        CHECK(lifetime_counter::alive.load() == 10000);
        CHECK(rx.try_recv().has_value());
        { auto gone = std::move(rx); }
        CHECK(lifetime_counter::alive.load() == 0);
        CHECK_THROWS_AS(tx.send(lifetime_counter{}), weft::mpsc::send_error<lifetime_counter>);
        CHECK(tx.try_send(lifetime_counter{}) == send_status::closed);
    }
    CHECK(lifetime_counter::alive.load() == 0);
    auto [tx, rx] = weft::mpsc::unbounded_channel<int>();
    for (int i = 0; i < 100000; ++i) tx.send(i);
    long sum = 0;
    std::vector<int> batch;
    while (rx.recv_many(batch, 1000) != 0) {
        for (int x : batch) sum += x;
        batch.clear();
        if (sum == 4999950000L) break;
    }
    CHECK(sum == 4999950000L);
}

TEST_CASE("mpsc: values still buffered when the channel dies are destroyed", "[channel][mpsc]") {
    lifetime_counter::alive = 0;
    {
        auto [tx, rx] = weft::mpsc::channel<lifetime_counter>(4);
        tx.send(lifetime_counter{});
        tx.send(lifetime_counter{});
    }
    CHECK(lifetime_counter::alive.load() == 0);
}

TEST_CASE("mpsc: a plain thread blocks in recv and send", "[channel][mpsc]") {
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    std::thread producer([tx = tx] {
        for (int i = 0; i < 100; ++i) tx.send(i);
    });
    { auto drop = std::move(tx); }
    int n = 0, sum = 0;
    while (auto v = rx.recv()) {
        ++n;
        sum += *v;
    }
    producer.join();
    CHECK(n == 100);
    CHECK(sum == 4950);
}

TEST_CASE("mpsc: recv that would wait on a worker outside a task throws logic_error",
          "[channel][mpsc]") {
    auto rt = weft::test::make_runtime();
    auto [tx, rx] = weft::mpsc::channel<int>(1);
    std::promise<std::string> p;
    asio::post(rt.get_executor(), [&] {
        try {
            rx.recv();
            p.set_value("returned");
        } catch (const std::logic_error& e) {
            p.set_value(e.what());
        }
    });
    auto f = p.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get().find("would block") != std::string::npos);
}

TEST_CASE("mpsc: abort while parked in recv loses no value", "[channel][mpsc][abort]") {
    auto rt = weft::test::make_runtime();
    const int rounds = static_cast<int>(weft::test::scaled(300));
    auto r = rt.block_on([&] {
        int delivered_once = 0, by_task = 0;
        for (int i = 0; i < rounds; ++i) {
            auto [tx, rx] = weft::mpsc::channel<int>(1);
            auto h = weft::spawn([&rx] { return rx.recv(); });
            for (int k = 0; k < i % 4; ++k) weft::yield_now();
            auto s = weft::spawn([tx = tx, i] { tx.send(i); });
            if (i % 2) weft::yield_now();
            h.abort();
            std::optional<int> got;
            try {
                got = h.join();
                if (got) ++by_task;
            } catch (const weft::join_error& e) {
                if (!e.is_cancelled()) return std::make_pair(-1, 0);
            }
            s.join();
            std::optional<int> left = rx.try_recv();
            int copies = (got ? 1 : 0) + (left ? 1 : 0);
            if (copies == 1 && (got ? *got : *left) == i) ++delivered_once;
        }
        return std::make_pair(delivered_once, by_task);
    });
    CHECK(r.first == rounds);
}

TEST_CASE("mpsc: a value handed to an aborted recv goes back, or is returned if that throws",
          "[channel][mpsc][abort]") {
    // One worker: the sender's task hands the value over and aborts the receiver before the
    // receiver runs again, so the receiver always sees a grant and an abort together.
    auto rt = weft::test::make_runtime(1);
    for (bool throwing : {false, true}) {
        auto r = rt.block_on([throwing] {
            auto [tx, rx] = weft::mpsc::channel<weft::test::move_bomb>(1);
            auto h = weft::spawn([&rx] { return rx.recv()->v; });
            weft::test::settle();  // h is parked in recv
            // When throwing, the move that puts the value back (push_front) throws.
            int joined = weft::test::hand_over_then_abort(
                [&tx](weft::test::move_bomb b) { tx.send(std::move(b)); }, h, throwing);
            std::optional<weft::test::move_bomb> v = rx.try_recv();
            return std::make_pair(joined, v ? v->v : -1);
        });
        if (throwing) {
            CHECK(r == std::make_pair(7, -1));  // returned by the aborted recv, not lost
        } else {
            CHECK(r == std::make_pair(-1, 7));  // back at the front of the channel
        }
    }
}

TEST_CASE("mpsc: abort while parked in send: the value is not sent, others are kept",
          "[channel][mpsc][abort]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(1);
        tx.send(1);
        auto parked = weft::spawn([tx = tx] { tx.send(2); });
        auto behind = weft::spawn([tx = tx] {
            weft::sleep_for(5ms);
            tx.send(3);
        });
        weft::test::settle();
        parked.abort();
        bool cancelled = false;
        try {
            parked.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        std::vector<int> v;
        v.push_back(*rx.recv());
        v.push_back(*rx.recv());
        behind.join();
        return std::make_pair(cancelled, v);
    });
    CHECK(r.first);
    CHECK(r.second == std::vector<int>{1, 3});
}

TEST_CASE("mpsc: abort while parked in closed()", "[channel][mpsc][abort]") {
    auto rt = weft::test::make_runtime();
    auto cancelled = rt.block_on([] {
        auto [tx, rx] = weft::mpsc::channel<int>(1);
        auto h = weft::spawn([tx = tx] { tx.closed(); });
        weft::test::settle();
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    CHECK(cancelled);
}
