// weft::use_fiber: results by completion signature, use_fiber[ec], Asio's adapters, foreign
// io_contexts, abort through the cancellation slot, and interop with asio::awaitable.
#include "support/harness.hpp"

#include <weft/asio.hpp>
#include <weft/time.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>

namespace asio = boost::asio;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

/// A hand-written asynchronous operation with signature Sig that completes with `values`
/// through a post to `ex` (never inside the initiating function).
template <class Sig, class Token, class... V>
auto complete_with(asio::any_io_executor ex, Token&& token, V... values) {
    return asio::async_initiate<Token, Sig>(
        [ex](auto handler, auto... vs) {
            // Moved into the handler: the lambda keeps no copy (of an exception_ptr, say)
            // that another thread would release last.
            asio::post(
                ex, [h = std::move(handler), vs...]() mutable { std::move(h)(std::move(vs)...); });
        },
        token, std::move(values)...);
}

/// An operation that ignores cancellation and completes with 42 after `delay`, from the
/// thread `th` (joined by the test before the runtime goes away).
template <class Token>
auto slow_answer(std::chrono::milliseconds delay, std::thread& th, Token&& token) {
    return asio::async_initiate<Token, void(error_code, int)>(
        [delay, &th](auto handler) {
            th = std::thread([h = std::move(handler), delay]() mutable {
                std::this_thread::sleep_for(delay);
                std::move(h)(error_code(), 42);
            });
        },
        token);
}

/// An operation whose handler is destroyed without ever being invoked.
template <class Token>
auto abandoned_op(asio::any_io_executor ex, Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [ex](auto handler) {
            asio::post(ex, [h = std::make_shared<decltype(handler)>(std::move(handler))] {});
        },
        token);
}

/// A connected pair of TCP sockets built on `ex`'s context.
std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket> socket_pair(
    const asio::any_io_executor& ex) {
    asio::ip::tcp::acceptor acc(ex, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket a(ex);
    a.connect(acc.local_endpoint());
    asio::ip::tcp::socket b = acc.accept();
    return {std::move(a), std::move(b)};
}

template <class F>
auto run(weft::runtime& rt, F&& f) {
    return rt.block_on(std::forward<F>(f));
}

}  // namespace

TEST_CASE("use_fiber waits on a timer and a socket of the current shard", "[asio][use_fiber]") {
    auto rt = weft::test::make_runtime();
    auto [elapsed, n, text] = run(rt, [] {
        auto start = std::chrono::steady_clock::now();
        asio::steady_timer t(weft::current_io_executor(), 20ms);
        t.async_wait(weft::use_fiber);
        auto waited = std::chrono::steady_clock::now() - start;

        auto [a, b] = socket_pair(weft::current_io_executor());
        std::string out = "hello, fiber";
        std::size_t written = asio::async_write(a, asio::buffer(out), weft::use_fiber);
        std::string in(written, '\0');
        std::size_t got = asio::async_read(b, asio::buffer(in), weft::use_fiber);
        return std::tuple(waited, got, in);
    });
    CHECK(elapsed >= 20ms);
    CHECK(n == 12);
    CHECK(text == "hello, fiber");
}

TEST_CASE("use_fiber returns by completion signature", "[asio][use_fiber]") {
    auto rt = weft::test::make_runtime();
    auto ex = rt.get_executor();
    struct results {
        int i = 0, j = 0, k = 0;
        std::tuple<int, std::string> t;
        std::tuple<int, double> u;
        std::string s;
    };
    results r = run(rt, [&] {
        results r;
        complete_with<void()>(ex, weft::use_fiber);
        complete_with<void(error_code)>(ex, weft::use_fiber, error_code());
        r.i = complete_with<void(error_code, int)>(ex, weft::use_fiber, error_code(), 7);
        r.t = complete_with<void(error_code, int, std::string)>(ex, weft::use_fiber, error_code(),
                                                                8, std::string("eight"));
        complete_with<void(std::exception_ptr)>(ex, weft::use_fiber, std::exception_ptr());
        r.j = complete_with<void(std::exception_ptr, int)>(ex, weft::use_fiber,
                                                           std::exception_ptr(), 9);
        r.k = complete_with<void(int)>(ex, weft::use_fiber, 10);
        r.u = complete_with<void(int, double)>(ex, weft::use_fiber, 11, 1.5);
        // const-reference parameters decay.
        r.s = complete_with<void(const error_code&, const std::string&)>(
            ex, weft::use_fiber, error_code(), std::string("ref"));
        return r;
    });
    static_assert(std::is_void_v<decltype(complete_with<void()>(ex, weft::use_fiber))>);
    static_assert(std::is_void_v<decltype(complete_with<void(error_code)>(ex, weft::use_fiber,
                                                                          error_code()))>);
    static_assert(
        std::is_same_v<decltype(complete_with<void(int, double)>(ex, weft::use_fiber, 1, 1.0)),
                       std::tuple<int, double>>);
    CHECK(r.i == 7);
    CHECK(r.t == std::tuple(8, std::string("eight")));
    CHECK(r.j == 9);
    CHECK(r.k == 10);
    CHECK(r.u == std::tuple(11, 1.5));
    CHECK(r.s == "ref");
}

TEST_CASE("use_fiber throws errors; use_fiber[ec] stores them", "[asio][use_fiber]") {
    auto rt = weft::test::make_runtime();
    auto ex = rt.get_executor();
    auto refused = asio::error::make_error_code(asio::error::connection_refused);
    struct results {
        error_code thrown, cleared, stored;
        int v = 0, moved = 0;
        std::string rethrown;
    };
    results r = run(rt, [&] {
        results r;
        try {
            complete_with<void(error_code)>(ex, weft::use_fiber, refused);
        } catch (const boost::system::system_error& e) {
            r.thrown = e.code();
        }
        error_code ec = asio::error::eof;  // cleared on success
        complete_with<void(error_code)>(ex, weft::use_fiber[ec], error_code());
        r.cleared = ec;
        r.v = complete_with<void(error_code, int)>(ex, weft::use_fiber[ec], refused, 3);
        r.stored = ec;
        try {
            complete_with<void(std::exception_ptr, int)>(
                ex, weft::use_fiber[ec], std::make_exception_ptr(std::runtime_error("boom")), 1);
        } catch (const std::runtime_error& e) {
            r.rethrown = e.what();
        }
        auto p = complete_with<void(error_code, std::shared_ptr<int>)>(
            ex, weft::use_fiber, error_code(), std::make_shared<int>(5));
        r.moved = *p;
        return r;
    });
    CHECK(r.thrown == refused);
    CHECK(!r.cleared);
    CHECK(r.stored == refused);
    CHECK(r.v == 3);
    CHECK(r.rethrown == "boom");
    CHECK(r.moved == 5);
}

TEST_CASE("use_fiber with as_tuple, redirect_error and deferred", "[asio][use_fiber]") {
    auto rt = weft::test::make_runtime();
    auto [tuple_ec, n, rec, r] = run(rt, [] {
        asio::steady_timer t(weft::current_io_executor(), 1h);
        // as_tuple: the error comes back in the tuple (cancel the timer from another task).
        auto h = weft::spawn([&t] {
            weft::sleep_for(5ms);
            asio::post(t.get_executor(), [&t] { t.cancel(); });
        });
        auto [ec] = t.async_wait(asio::as_tuple(weft::use_fiber));
        h.join();

        auto [a, b] = socket_pair(weft::current_io_executor());
        a.close();
        error_code rec;
        char byte = 0;
        std::size_t n =
            b.async_read_some(asio::buffer(&byte, 1), asio::redirect_error(weft::use_fiber, rec));

        asio::steady_timer t2(weft::current_io_executor(), 1ms);
        auto op = t2.async_wait(asio::deferred);
        std::move(op)(weft::use_fiber);

        auto chained =
            complete_with<void(error_code, int)>(t2.get_executor(), asio::deferred, error_code(),
                                                 20) |
            asio::deferred([](error_code e, int x) { return asio::deferred.values(e, x + 1); });
        int r = std::move(chained)(weft::use_fiber);
        return std::tuple(ec, n, rec, r);
    });
    CHECK(tuple_ec == asio::error::operation_aborted);
    CHECK(n == 0);
    CHECK(rec == asio::error::eof);
    CHECK(r == 21);
}

TEST_CASE("use_fiber outside a task is a logic_error", "[asio][use_fiber]") {
    auto rt = weft::test::make_runtime();
    asio::io_context io;
    asio::steady_timer t(io, 1ms);
    CHECK_THROWS_AS(t.async_wait(weft::use_fiber), std::logic_error);

    auto from_pool = rt.spawn_blocking([&] {
        try {
            t.async_wait(weft::use_fiber);
            return std::string();
        } catch (const std::logic_error& e) {
            return std::string(e.what());
        }
    });
    std::string msg = run(rt, [&] { return from_pool.join(); });
    CHECK(msg.find("outside a task") != std::string::npos);

    std::promise<bool> p;
    asio::post(rt.get_executor(), [&] {
        try {
            asio::steady_timer t2(weft::current_io_executor(), 1ms);
            t2.async_wait(weft::use_fiber);
            p.set_value(false);
        } catch (const std::logic_error&) {
            p.set_value(true);
        }
    });
    CHECK(p.get_future().get());
}

TEST_CASE("use_fiber on a foreign io_context run by a std::thread", "[asio][use_fiber]") {
    auto rt = weft::test::make_runtime();
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    std::thread th([&] { io.run(); });

    auto [waited, text, failed] = run(rt, [&] {
        auto start = std::chrono::steady_clock::now();
        asio::steady_timer t(io, 15ms);
        t.async_wait(weft::use_fiber);
        auto waited = std::chrono::steady_clock::now() - start;
        auto [a, b] = socket_pair(io.get_executor());
        auto writer = weft::spawn([&a] {
            for (int i = 0; i < 100; ++i) {
                std::string s = std::to_string(i) + ";";
                asio::async_write(a, asio::buffer(s), weft::use_fiber);
            }
            a.shutdown(asio::socket_base::shutdown_send);
        });
        std::string all;
        char buf[64];
        error_code failed;
        for (;;) {
            error_code ec;
            std::size_t n = b.async_read_some(asio::buffer(buf), weft::use_fiber[ec]);
            if (ec == asio::error::eof) break;
            if (ec) {
                failed = ec;
                break;
            }
            all.append(buf, n);
        }
        writer.join();
        return std::tuple(waited, all, failed);
    });
    std::string expect;
    for (int i = 0; i < 100; ++i) expect += std::to_string(i) + ";";
    CHECK(waited >= 15ms);
    CHECK(!failed);
    CHECK(text == expect);
    guard.reset();
    th.join();
}

TEST_CASE("abort cancels a pending use_fiber operation through its slot",
          "[asio][use_fiber][cancel]") {
    auto rt = weft::test::make_runtime();
    asio::io_context foreign;
    auto guard = asio::make_work_guard(foreign);
    std::thread th([&] { foreign.run(); });

    for (bool on_foreign : {false, true}) {
        std::atomic<bool> started{false};
        std::atomic<int> unwound{0};
        auto h = rt.spawn([&, on_foreign] {
            struct on_exit {
                std::atomic<int>& n;
                ~on_exit() { ++n; }
            } guard_{unwound};
            asio::any_io_executor ex = on_foreign
                                           ? asio::any_io_executor(foreign.get_executor())
                                           : asio::any_io_executor(weft::current_io_executor());
            asio::steady_timer t(ex, 1h);
            started = true;
            t.async_wait(weft::use_fiber);
        });
        while (!started) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(5ms);
        auto start = std::chrono::steady_clock::now();
        h.abort();
        bool cancelled = run(rt, [&] {
            try {
                h.join();
            } catch (const weft::join_error& e) {
                return e.is_cancelled();
            }
            return false;
        });
        CHECK(cancelled);
        CHECK(unwound == 1);
        CHECK(std::chrono::steady_clock::now() - start < 2s);
    }

    // Aborted while blocked in a socket read: the socket stays usable for the next reader.
    auto [reader_cancelled, n, byte] = run(rt, [] {
        auto [a, b] = socket_pair(weft::current_io_executor());
        char byte = 0;
        auto reader = weft::spawn(
            [&b, &byte] { b.async_read_some(asio::buffer(&byte, 1), weft::use_fiber); });
        weft::sleep_for(10ms);
        reader.abort();
        bool cancelled = false;
        try {
            reader.join();
        } catch (const weft::join_error& e) {
            cancelled = e.is_cancelled();
        }
        asio::async_write(a, asio::buffer("x", 1), weft::use_fiber);
        std::size_t n = b.async_read_some(asio::buffer(&byte, 1), weft::use_fiber);
        return std::tuple(cancelled, n, byte);
    });
    CHECK(reader_cancelled);
    CHECK(n == 1);
    CHECK(byte == 'x');
    guard.reset();
    th.join();
}

TEST_CASE("an operation that ignores cancellation keeps the task until it completes",
          "[asio][use_fiber][cancel]") {
    auto rt = weft::test::make_runtime();
    std::atomic<int> got{0};
    std::atomic<bool> started{false};
    std::thread th;
    auto h = rt.spawn([&] {
        started = true;
        got = slow_answer(100ms, th, weft::use_fiber);  // completes anyway: the value is returned
        weft::yield_now();                              // ...and the next cancellation point throws
        got = -1;
    });
    while (!started) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(10ms);
    h.abort();
    bool cancelled = run(rt, [&] {
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return e.is_cancelled();
        }
        return false;
    });
    th.join();
    CHECK(cancelled);
    CHECK(got == 42);
}

TEST_CASE("a handler destroyed uninvoked makes the call throw task_cancelled",
          "[asio][use_fiber]") {
    auto rt = weft::test::make_runtime();
    auto ex = rt.get_executor();
    bool threw = run(rt, [&] {
        try {
            abandoned_op(ex, weft::use_fiber);
        } catch (const weft::task_cancelled&) {
            return true;
        }
        return false;
    });
    CHECK(threw);
}

TEST_CASE("use_fiber and asio::awaitable interoperate", "[asio][use_fiber][awaitable]") {
    auto rt = weft::test::make_runtime();
    // A fiber waits for a coroutine running on the runtime's executor.
    int v = run(rt, [&] {
        return asio::co_spawn(
            rt.get_executor(),
            []() -> asio::awaitable<int> {
                asio::steady_timer t(co_await asio::this_coro::executor, 5ms);
                co_await t.async_wait(asio::use_awaitable);
                co_return 5;
            },
            weft::use_fiber);
    });
    CHECK(v == 5);
    // The coroutine's exception is rethrown in the fiber.
    std::string thrown = run(rt, [&] {
        try {
            asio::co_spawn(
                rt.get_executor(),
                []() -> asio::awaitable<void> {
                    throw std::runtime_error("from the coroutine");
                    co_return;
                },
                weft::use_fiber);
        } catch (const std::runtime_error& e) {
            // Hold the exception until the coroutine's frame (on a worker) has dropped its
            // copy, so the last reference goes away on this thread: libstdc++'s exception
            // refcount is invisible to TSan.
            weft::sleep_for(20ms);
            return std::string(e.what());
        }
        return std::string();
    });
    CHECK(thrown == "from the coroutine");

    // A coroutine on the runtime's executor does socket I/O with a fiber on the other side,
    // and awaits a fiber's join.
    std::string echoed = run(rt, [&] {
        asio::ip::tcp::acceptor acc(weft::current_io_executor(),
                                    {asio::ip::make_address("127.0.0.1"), 0});
        auto port = acc.local_endpoint().port();
        auto fiber_side = weft::spawn([&acc] {
            auto s = acc.async_accept(weft::use_fiber);
            char buf[5];
            asio::async_read(s, asio::buffer(buf), weft::use_fiber);
            asio::async_write(s, asio::buffer(buf), weft::use_fiber);
        });
        auto joinable = weft::spawn([] {
            weft::sleep_for(2ms);
            return 1;
        });
        std::string result = asio::co_spawn(
            rt.get_executor(),
            [port, &joinable]() -> asio::awaitable<std::string> {
                asio::ip::tcp::socket s(co_await asio::this_coro::executor);
                co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                         asio::use_awaitable);
                co_await asio::async_write(s, asio::buffer("hello", 5), asio::use_awaitable);
                std::string in(5, '\0');
                co_await asio::async_read(s, asio::buffer(in), asio::use_awaitable);
                int one = co_await joinable.async_join(asio::use_awaitable);
                co_return in + std::to_string(one);
            },
            weft::use_fiber);
        fiber_side.join();
        return result;
    });
    CHECK(echoed == "hello1");
}

TEST_CASE("a timeout around a use_fiber operation cancels it and throws elapsed",
          "[asio][use_fiber][cancel]") {
    auto rt = weft::test::make_runtime();
    auto [elapsed, took, then_ok] = run(rt, [] {
        asio::steady_timer t(weft::current_io_executor(), 1h);
        auto start = std::chrono::steady_clock::now();
        bool elapsed = false;
        try {
            weft::timeout(20ms, [&] { t.async_wait(weft::use_fiber); });
        } catch (const weft::elapsed&) {
            elapsed = true;
        }
        auto took = std::chrono::steady_clock::now() - start;
        // The task itself was not aborted: the next operation runs normally.
        t.expires_after(1ms);
        t.async_wait(weft::use_fiber);
        return std::tuple(elapsed, took, true);
    });
    CHECK(elapsed);
    CHECK(took >= 20ms);
    CHECK(took < 2s);
    CHECK(then_ok);
}
