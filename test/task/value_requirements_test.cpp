// What a user's value type must provide: every API that carries a T from one task to another
// (task results, join, join_set, the blocking pool, timeout, select, oneshot and mpsc, their
// Asio forms) works with a T that has a move constructor and nothing else: no default
// constructor, no assignment, no copy. A path that assigns a T (or an optional<T>) breaks the
// build of this file, which is how a oneshot bug of that kind would have been caught.
#include "channel/channel_test_util.hpp"
#include "support/harness.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <future>
#include <optional>
#include <thread>
#include <variant>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;

namespace {

struct move_only_value {
    const int v;
    lifetime_counter alive;
    explicit move_only_value(int x)
        : v(x) {}
    move_only_value(move_only_value&&) = default;
    move_only_value(const move_only_value&) = delete;
    move_only_value& operator=(move_only_value&&) = delete;
    move_only_value& operator=(const move_only_value&) = delete;
};

// Whether every counted value is destroyed within 5 s. A task's result slot, an Asio
// completion's argument and a promise's shared state are destroyed on the worker that held
// them last, right after the value moved on, which the receiving thread may see first.
bool all_destroyed_soon() {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (lifetime_counter::alive.load() != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
    return lifetime_counter::alive.load() == 0;
}

}  // namespace

TEST_CASE("a move-only, unassignable value travels through tasks and joins", "[task][values]") {
    lifetime_counter::alive = 0;
    auto rt = weft::test::make_runtime();
    int sum = rt.block_on([] {
        int s = weft::spawn([] { return move_only_value{1}; }).join().v;
        s += weft::spawn_blocking([] { return move_only_value{2}; }).join().v;
        weft::join_set<move_only_value> set;
        set.spawn([] { return move_only_value{3}; });
        auto next = set.join_next();
        s += next ? next->v : -100;
        auto [a, b] =
            weft::join([] { return move_only_value{4}; }, [] { return move_only_value{5}; });
        s += a.v + b.v;
        s += weft::timeout(5s, [] { return move_only_value{6}; }).v;
        return s;
    });
    CHECK(sum == 21);
    CHECK(all_destroyed_soon());
}

TEST_CASE("a move-only, unassignable value travels through channels and select",
          "[task][values][channel]") {
    lifetime_counter::alive = 0;
    auto rt = weft::test::make_runtime();
    int sum = rt.block_on([] {
        int s = 0;
        {
            auto [tx, rx] = weft::oneshot::channel<move_only_value>();
            tx.send(move_only_value{1});
            auto r = weft::select(rx.recv_op(), weft::sleep_for_op(5s));
            s += r.index() == 0 ? std::get<0>(r).v : -100;
        }
        {
            auto [tx, rx] = weft::mpsc::channel<move_only_value>(4);
            tx.send(move_only_value{2});
            tx.send(move_only_value{3});
            auto r = weft::select(rx.recv_op(), weft::sleep_for_op(5s));
            s += r.index() == 0 && std::get<0>(r) ? std::get<0>(r)->v : -100;
            auto v = rx.recv();
            s += v ? v->v : -100;
            tx.send(move_only_value{4});
        }  // one value dropped in the channel: destroyed with it
        {
            auto [tx, rx] = weft::mpsc::unbounded_channel<move_only_value>();
            tx.send(move_only_value{5});
            auto v = rx.try_recv();
            s += v ? v->v : -100;
        }
        return s;
    });
    CHECK(sum == 11);
    {
        auto [tx, rx] = weft::oneshot::channel<move_only_value>();
        CHECK(tx.send(move_only_value{5}));
        CHECK(rx.recv().v == 5);
    }
    {
        auto [tx, rx] = weft::oneshot::channel<move_only_value>();
        CHECK(tx.send(move_only_value{6}));
    }  // dropped unreceived: moved out of the slot and destroyed
    CHECK(lifetime_counter::alive.load() == 0);
    {
        boost::asio::io_context ioc;
        auto [tx, rx] = weft::oneshot::channel<move_only_value>();
        tx.send(move_only_value{8});
        int got = 0;
        rx.async_recv(boost::asio::bind_executor(
            ioc, [&](boost::system::error_code ec, std::optional<move_only_value> v) {
                got = !ec && v ? v->v : -1;
            }));
        CHECK(weft::test::run_until(ioc, [&] { return got != 0; }));
        CHECK(got == 8);
    }
    {
        auto [tx, rx] = weft::mpsc::channel<move_only_value>(1);
        auto f = rx.async_recv(boost::asio::use_future);
        tx.send(move_only_value{7});
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        std::optional<move_only_value> got = f.get();
        CHECK((got && got->v == 7));
    }
    // The use_future completion runs on a weft worker, and it destroys its argument (a
    // moved-from value) and the promise (whose shared state holds another) right after
    // set_value, which f.get() may have returned from already: an ASan run counted 2 alive
    // here.
    CHECK(all_destroyed_soon());
}
