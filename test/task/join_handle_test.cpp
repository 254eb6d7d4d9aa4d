#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("join returns values, move-only values and void", "[task][join]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] {
        auto a = weft::spawn([] { return 5; });
        auto b = weft::spawn([] { return std::make_unique<std::string>("x"); });
        auto c = weft::spawn([] {});
        CHECK(a.join() == 5);
        CHECK(*b.join() == "x");
        c.join();
    });
}

TEST_CASE("an exception escapes as join_error carrying the original", "[task][join]") {
    auto rt = weft::test::make_runtime();
    auto err = rt.block_on([] {
        auto h = weft::spawn([]() -> int {
            weft::sleep_for(1ms);
            throw std::out_of_range("index 9");
        });
        try {
            h.join();
        } catch (const weft::join_error& e) {
            return std::make_tuple(e.is_exception(), e.is_cancelled(), std::string(e.what()),
                                   e.exception());
        }
        return std::make_tuple(false, false, std::string(), std::exception_ptr());
    });
    CHECK(std::get<0>(err));
    CHECK_FALSE(std::get<1>(err));
    CHECK_THAT(std::get<2>(err), Catch::Contains("index 9"));
    CHECK_THROWS_AS(std::rethrow_exception(std::get<3>(err)), std::out_of_range);
}

TEST_CASE("a second join, a moved-from join and a self-join are logic errors", "[task][join]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] {
        auto h = weft::spawn([] { return 1; });
        CHECK(h.valid());
        CHECK(h.join() == 1);
        CHECK_FALSE(h.valid());
        CHECK_THROWS_AS(h.join(), std::logic_error);
        auto g = weft::spawn([] {});
        auto g2 = std::move(g);
        CHECK_THROWS_AS(g.join(), std::logic_error);
        g2.join();
    });
    // Self-join: the task learns its own handle through a oneshot-like slot.
    auto msg = rt.block_on([] {
        auto slot = std::make_shared<std::atomic<weft::join_handle<std::string>*>>(nullptr);
        auto h = weft::spawn([slot] {
            while (!slot->load()) weft::yield_now();
            try {
                (*slot->load()).join();
            } catch (const std::logic_error& e) {
                return std::string(e.what());
            }
            return std::string();
        });
        // The task tries to join its own handle; the logic_error comes before any state is
        // touched, so our join below is the only real one.
        slot->store(&h);
        return h.join();
    });
    CHECK_THAT(msg, Catch::Contains("cannot join itself"));
}

TEST_CASE("is_finished, id and abort_handle", "[task][join]") {
    auto rt = weft::test::make_runtime();
    rt.block_on([] {
        auto h = weft::spawn([] { weft::sleep_for(5ms); });
        CHECK(h.id() != 0);
        auto ah = h.get_abort_handle();
        CHECK(ah.id() == h.id());
        CHECK_FALSE(h.is_finished());
        h.join();
        CHECK(ah.is_finished());
    });
}

TEST_CASE("a detached task keeps running", "[task][join]") {
    auto rt = weft::test::make_runtime();
    std::atomic<bool> done{false};
    rt.block_on([&] {
        {
            auto h = weft::spawn([&] {
                weft::sleep_for(5ms);
                done = true;
            });
        }
        for (int i = 0; i < 1000 && !done; ++i) weft::sleep_for(1ms);
    });
    CHECK(done.load());
}

TEST_CASE("join from a plain thread blocks it until the task ends", "[task][join]") {
    auto rt = weft::test::make_runtime();
    auto h = rt.spawn([] {
        weft::sleep_for(10ms);
        return 9;
    });
    CHECK(h.join() == 9);
}

TEST_CASE("unhandled_exception policy shutdown_runtime makes block_on rethrow it", "[task][join]") {
    auto rt = weft::builder::multi_thread()
                  .worker_threads(2)
                  .unhandled_exception(weft::unhandled_exception_policy::shutdown_runtime)
                  .build();
    CHECK_THROWS_WITH(rt.block_on([] {
        weft::spawn([] { throw std::runtime_error("unobserved"); });
        weft::sleep_for(1h);
    }),
                      Catch::Contains("unobserved"));
}

TEST_CASE("unhandled_exception ignore and log leave the runtime running", "[task][join]") {
    for (auto p :
         {weft::unhandled_exception_policy::ignore, weft::unhandled_exception_policy::log}) {
        auto rt = weft::builder::current_thread().unhandled_exception(p).build();
        int v = rt.block_on([] {
            weft::spawn([] { throw std::runtime_error("dropped on purpose (test)"); });
            weft::yield_now();
            weft::yield_now();
            return 3;
        });
        CHECK(v == 3);
    }
}
