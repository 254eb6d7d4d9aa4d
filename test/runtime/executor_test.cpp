// weft::executor as a standard Asio executor: post/dispatch/defer, strands, co_spawn, and
// handlers that spawn fibers.
#include "support/harness.hpp"

#include <weft/asio.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

static_assert(asio::execution::is_executor<weft::executor>::value);

TEST_CASE("asio::post on the runtime executor runs on a worker, not in a task",
          "[asio][executor]") {
    auto rt = weft::test::make_runtime();
    std::promise<std::tuple<bool, bool, weft::task_id>> p;
    asio::post(rt.get_executor(), [&] {
        p.set_value({weft::handle::try_current().has_value(), weft::this_task::id() == 0,
                     weft::this_task::id()});
    });
    auto [in_runtime, not_task, id] = p.get_future().get();
    CHECK(in_runtime);
    CHECK(not_task);
    CHECK(id == 0);
}

TEST_CASE("a handler spawns fibers and suspending there is a logic_error", "[asio][executor]") {
    auto rt = weft::test::make_runtime();
    std::promise<std::pair<int, std::string>> p;
    asio::post(rt.get_executor(), [&] {
        std::string err;
        try {
            weft::sleep_for(1ms);
        } catch (const std::logic_error& e) {
            err = e.what();
        }
        auto h = weft::spawn([] {
            weft::sleep_for(1ms);
            return 21;
        });
        // Join it from another task, as a handler cannot wait.
        weft::spawn([h = std::move(h), &p, err]() mutable { p.set_value({h.join() * 2, err}); });
    });
    auto [v, err] = p.get_future().get();
    CHECK(v == 42);
    CHECK_THAT(err, Catch::Contains("would block a worker"));
}

TEST_CASE("dispatch runs inline on a worker, defer and post queue", "[asio][executor]") {
    auto rt = weft::test::make_runtime();
    std::promise<std::vector<int>> p;
    asio::post(rt.get_executor(), [&, ex = rt.get_executor()] {
        auto order = std::make_shared<std::vector<int>>();
        asio::dispatch(ex, [order] { order->push_back(1); });  // inline: already on a worker
        order->push_back(2);
        asio::defer(ex, [order, &p] {
            order->push_back(3);
            p.set_value(*order);
        });
    });
    CHECK(p.get_future().get() == std::vector<int>{1, 2, 3});
}

TEST_CASE("a strand on the runtime executor serialises handlers", "[asio][executor]") {
    auto rt = weft::test::make_runtime();
    auto strand = asio::make_strand(rt.get_executor());
    long counter = 0;  // not atomic: the strand serialises
    std::atomic<int> done{0};
    std::promise<void> all;
    const int n = 10000;
    for (int i = 0; i < n; ++i) {
        asio::post(strand, [&] {
            ++counter;
            if (++done == n) all.set_value();
        });
    }
    all.get_future().get();
    CHECK(counter == n);
}

TEST_CASE("co_spawn of an awaitable runs on the workers", "[asio][executor]") {
    auto rt = weft::test::make_runtime();
    auto ex = rt.get_executor();
    auto fut = asio::co_spawn(
        ex,
        []() -> asio::awaitable<int> {
            auto e = co_await asio::this_coro::executor;
            asio::steady_timer t(e, 2ms);
            co_await t.async_wait(asio::use_awaitable);
            co_return weft::handle::try_current().has_value() ? 7 : -1;
        },
        asio::use_future);
    CHECK(fut.get() == 7);
}

TEST_CASE("the executor converts to any_io_executor and answers queries", "[asio][executor]") {
    auto rt = weft::test::make_runtime();
    asio::any_io_executor any = rt.get_executor();
    std::promise<int> p;
    asio::post(any, [&] { p.set_value(5); });
    CHECK(p.get_future().get() == 5);
    auto ex = rt.get_executor();
    CHECK(asio::query(ex, asio::execution::blocking) == asio::execution::blocking.possibly);
    auto ex2 = asio::require(ex, asio::execution::blocking.never);
    CHECK(asio::query(ex2, asio::execution::blocking) == asio::execution::blocking.never);
    auto ex3 = asio::prefer(ex, asio::execution::outstanding_work.tracked);
    CHECK(asio::query(ex3, asio::execution::outstanding_work) ==
          asio::execution::outstanding_work.tracked);
    CHECK(&asio::query(ex, asio::execution::context) == &ex.context());
    CHECK(ex == rt.get_executor());
}

TEST_CASE("current_io_executor gives the worker's shard inside a task", "[asio][executor]") {
    auto rt = weft::test::make_runtime();
    CHECK_THROWS_AS(weft::current_io_executor(), weft::no_runtime);
    bool ok = rt.block_on([] {
        auto ex = weft::current_io_executor();
        asio::steady_timer t(ex, 1ms);
        std::atomic<bool> fired{false};
        t.async_wait([&](auto) { fired = true; });
        for (int i = 0; i < 1000 && !fired; ++i) weft::sleep_for(1ms);
        return fired.load();
    });
    CHECK(ok);
}

TEST_CASE("async_join with a callback, use_future, an awaitable and deferred", "[asio][join]") {
    auto rt = weft::test::make_runtime();
    // Callback from a plain thread: runs on a weft worker.
    std::promise<std::pair<int, bool>> p;
    rt.spawn([] {
          weft::sleep_for(1ms);
          return 6;
      }).async_join([&](std::exception_ptr e, int v) {
        p.set_value({v, !e && weft::handle::try_current().has_value()});
    });
    auto [v, ok] = p.get_future().get();
    CHECK(v == 6);
    CHECK(ok);
    // use_future, and a failed task: the exception_ptr holds a join_error.
    auto f =
        rt.spawn([]() -> int { throw std::runtime_error("bad"); }).async_join(asio::use_future);
    try {
        f.get();
        FAIL("expected join_error");
    } catch (const weft::join_error& e) {
        CHECK(e.is_exception());
    }
    // An awaitable on the runtime executor joins a fiber.
    auto ex = rt.get_executor();
    auto h = rt.handle();
    auto fut = asio::co_spawn(
        ex,
        [h]() -> asio::awaitable<int> {
            int x = co_await h.spawn([] { return 20; }).async_join(asio::use_awaitable);
            co_await h.spawn([] {}).async_join(asio::use_awaitable);
            co_return x + 1;
        },
        asio::use_future);
    CHECK(fut.get() == 21);
    // deferred: nothing happens until launched.
    auto op = rt.spawn([] { return 3; }).async_join(asio::deferred);
    std::promise<int> p3;
    std::move(op)([&](std::exception_ptr, int x) { p3.set_value(x); });
    CHECK(p3.get_future().get() == 3);
}

TEST_CASE("async_join cancelled through its slot completes with operation_aborted",
          "[asio][join]") {
    auto rt = weft::test::make_runtime();
    asio::cancellation_signal sig;
    std::promise<std::string> p;
    auto jh = rt.spawn([] { weft::sleep_for(1h); });
    auto ah = jh.get_abort_handle();
    std::move(jh).async_join(asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const boost::system::system_error& se) {
            p.set_value(se.code() == asio::error::operation_aborted ? "aborted" : "other");
        } catch (...) {
            p.set_value("unexpected");
        }
    }));
    // Emit on a worker (cancellation slots are not thread-safe; weft serialises nothing here
    // because the signal is used from this one thread only).
    sig.emit(asio::cancellation_type::terminal);
    CHECK(p.get_future().get() == "aborted");
    CHECK_FALSE(ah.is_finished());  // the task itself was left running
    ah.abort();
}

TEST_CASE("an executor obtained off the workers binds each strand made from it to the next shard",
          "[asio][executor]") {
    // A server set up in main makes a strand per connection from rt.get_executor(): the
    // connections must spread over the shards (each worker runs the reactor work of its own),
    // and a connection's socket and timers must share its strand's shard.
    auto rt = weft::test::make_runtime(2);
    auto ex = rt.get_executor();
    std::vector<asio::io_context*> shards;
    for (int i = 0; i < 4; ++i) {
        auto strand = asio::make_strand(ex);
        asio::io_context& shard = asio::query(strand, asio::execution::context);
        asio::ip::tcp::socket socket(strand);
        asio::steady_timer timer(socket.get_executor());
        CHECK(&asio::query(socket.get_executor(), asio::execution::context) == &shard);
        CHECK(&asio::query(timer.get_executor(), asio::execution::context) == &shard);
        shards.push_back(&shard);
    }
    CHECK(shards[0] != shards[1]);  // two workers: in turn
    CHECK(shards[0] == shards[2]);
    CHECK(shards[1] == shards[3]);
    // A copy made before the first query binds on its own; one made after keeps the binding.
    auto before = ex;
    asio::io_context& bound = ex.context();
    auto after = ex;
    CHECK(&after.context() == &bound);
    CHECK(&before.context() != &bound);
    CHECK(before == after);  // equal: they run functions alike
    // On a worker, the executor answers that worker's shard.
    CHECK(rt.block_on([&] {
        return &weft::handle::current().get_executor().context() ==
               &weft::current_io_executor().context();
    }));
}

TEST_CASE("handlers posted from plain threads during shutdown are each run or destroyed",
          "[asio][executor][shutdown]") {
    // Conservation across shutdown: when shutdown returns, every handler that plain threads
    // posted to the executor has been invoked or destroyed uninvoked, none is left in a queue
    // that nobody drains any more (a handler owning a promise or a work guard would leave its
    // waiter hanging). The posting threads keep going through the shutdown and after it. A post
    // that looked at the runtime just before it stopped and queued just after the queues' last
    // drain was the loss: it is counted now, and shutdown waits for it.
    struct counts {
        std::atomic<long> alive{0};
        std::atomic<long> invoked{0};
    };
    struct token {
        counts* c;
        explicit token(counts* to)
            : c(to) {
            c->alive.fetch_add(1);
        }
        token(const token& o)
            : c(o.c) {
            c->alive.fetch_add(1);
        }
        token& operator=(const token&) = delete;
        ~token() { c->alive.fetch_sub(1); }
    };
    const std::size_t rounds = weft::test::scaled(200);
    long invoked = 0;
    for (std::size_t round = 0; round < rounds; ++round) {
        counts c;
        std::atomic<bool> stop{false};
        std::vector<std::thread> posters;
        {
            auto rt = weft::test::make_runtime(2);
            auto ex = rt.get_executor();
            for (int p = 0; p < 3; ++p) {
                posters.emplace_back([&c, &stop, ex] {
                    while (!stop.load(std::memory_order_relaxed)) {
                        asio::post(ex, [t = token(&c)] { t.c->invoked.fetch_add(1); });
                    }
                });
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200 + 50 * (round % 8)));
            rt.shutdown_timeout(5s);
            std::this_thread::sleep_for(1ms);  // posts after the shutdown: destroyed at once
            stop.store(true);
            for (auto& t : posters) t.join();
            INFO("round " << round << ": " << c.alive.load() << " handler(s) left queued");
            REQUIRE(c.alive.load() == 0);
        }
        invoked += c.invoked.load();
    }
    CHECK(invoked > 0);  // the runtime ran some of them before it stopped
}
