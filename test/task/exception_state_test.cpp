// The exception state belongs to the task: suspending inside a catch block or while
// unwinding, then resuming on another worker, keeps current_exception and
// uncaught_exceptions right.
#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <exception>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("a task may suspend inside a catch block and migrate", "[task][exceptions]") {
    auto rt = weft::test::make_runtime(2);
    int ok = rt.block_on([] {
        std::vector<weft::join_handle<int>> hs;
        for (int i = 0; i < 64; ++i) {
            hs.push_back(weft::spawn([i] {
                try {
                    throw std::runtime_error("retry " + std::to_string(i));
                } catch (const std::runtime_error&) {
                    for (int k = 0; k < 10; ++k) {
                        if (k % 2)
                            weft::yield_now();
                        else
                            weft::sleep_for(100us);
                        // Still inside the handler, whatever thread we are on now.
                        try {
                            throw;
                        } catch (const std::runtime_error& again) {
                            if (std::string(again.what()) != "retry " + std::to_string(i)) return 0;
                        }
                    }
                }
                return std::current_exception() == nullptr ? 1 : 0;
            }));
        }
        int s = 0;
        for (auto& h : hs) s += h.join();
        return s;
    });
    CHECK(ok == 64);
    // The workers' own exception state stayed clean.
    CHECK(rt.block_on([] { return std::uncaught_exceptions(); }) == 0);
}

TEST_CASE("a destructor may suspend during unwinding", "[task][exceptions]") {
    auto rt = weft::test::make_runtime(2);
    auto r = rt.block_on([] {
        std::vector<weft::join_handle<int>> hs;
        for (int i = 0; i < 32; ++i) {
            hs.push_back(weft::spawn([] {
                int seen = -1;
                try {
                    struct suspends_in_dtor {
                        int& seen;
                        ~suspends_in_dtor() {
                            weft::sleep_for(200us);
                            weft::yield_now();
                            seen = std::uncaught_exceptions();
                        }
                    } d{seen};
                    throw std::logic_error("unwind");
                } catch (const std::logic_error&) {}
                return seen == 1 && std::uncaught_exceptions() == 0 ? 1 : 0;
            }));
        }
        int s = 0;
        for (auto& h : hs) s += h.join();
        return s;
    });
    CHECK(r == 32);
}
