// lib/scheduler/asio_thread_cache.hpp: a task runs with a thread_info of the worker's own at
// the bottom of Asio's call stack, so the memory Asio allocates for a task's operations (the
// cancellation handler a socket operation installs in a use_fiber slot, above all) is
// recycled instead of going to malloc and free once per operation; and that entry never makes
// an io_context believe it is running on the task's thread.
#include "support/harness.hpp"

#include <weft/asio.hpp>
#include <weft/net.hpp>
#include <weft/task.hpp>

#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <stdexcept>

namespace asio = boost::asio;

namespace {
// Opaque for the reason weft::test::current_thread_id() is: the task below reads this
// thread-local before and after a suspension that may move it to the other worker, and
// inlined, the thread's address was computed once for both reads (TSan then reported the
// second read as a race with the first worker).
[[gnu::noinline, gnu::noipa]] bool asio_cache_present() {
    return asio::detail::thread_context::top_of_thread_call_stack() != nullptr;
}
}  // namespace

TEST_CASE("a task's Asio operations find the worker's small-object cache, not malloc",
          "[scheduler][asio]") {
    // Off the workers (this thread) Asio finds no cache: the control.
    CHECK_FALSE(asio_cache_present());
    auto rt = weft::test::make_runtime(2);
    // In tasks on either worker, before and after a suspension (a task may resume on the other
    // worker, which has a cache of its own). Counted here, checked on this thread.
    int missing = rt.block_on([] {
        int n = 0;
        for (int i = 0; i < 16; ++i) {
            n += weft::spawn([] {
                     int m = asio_cache_present() ? 0 : 1;
                     weft::yield_now();
                     return m + (asio_cache_present() ? 0 : 1);
                 }).join();
        }
        return n;
    });
    CHECK(missing == 0);
    CHECK_FALSE(asio_cache_present());  // the worker's entry never leaks onto another thread
}

TEST_CASE("the cache's call-stack entry does not make a shard's io_context run inline in a task",
          "[scheduler][asio]") {
    auto rt = weft::test::make_runtime(2);
    bool inline_in_task = rt.block_on([] {
        // Between polls the io_context is not running on this thread: dispatch through its own
        // executor must queue, exactly as without the cache.
        return weft::current_io_executor().running_in_this_thread();
    });
    CHECK_FALSE(inline_in_task);
    rt.block_on([] {
        // And a socket round trip through use_fiber works with the cache in place, many times
        // (each operation reuses the memory the previous one gave back).
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        auto port = listener.local_addr().port();
        auto server = weft::spawn([l = std::move(listener)]() mutable {
            auto s = l.accept();
            std::array<char, 8> b{};
            for (int i = 0; i < 200; ++i) {
                s.read_exact(asio::buffer(b));
                s.write_all(asio::buffer(b));
            }
        });
        asio::ip::tcp::socket c(weft::current_io_executor());
        c.async_connect({asio::ip::make_address("127.0.0.1"), port}, weft::use_fiber);
        std::array<char, 8> out{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
        std::array<char, 8> in{};
        for (int i = 0; i < 200; ++i) {
            asio::async_write(c, asio::buffer(out), weft::use_fiber);
            asio::async_read(c, asio::buffer(in), weft::use_fiber);
            if (in != out) throw std::runtime_error("echoed bytes differ");
        }
        server.join();
    });
}
