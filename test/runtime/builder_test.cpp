#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <pthread.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
std::string build_error(weft::builder b) {
    try {
        auto rt = b.build();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return {};
}
}  // namespace

TEST_CASE("builder rejects bad options with a message naming the option", "[runtime][builder]") {
    CHECK_THAT(build_error(weft::builder::multi_thread().worker_threads(0)),
               Catch::Contains("worker_threads"));
    CHECK_THAT(build_error(weft::builder::multi_thread().max_blocking_threads(0)),
               Catch::Contains("max_blocking_threads"));
    CHECK_THAT(build_error(weft::builder::multi_thread().stack_size(1024)),
               Catch::Contains("stack_size"));
    CHECK_THAT(build_error(weft::builder::multi_thread().thread_keep_alive(-1s)),
               Catch::Contains("thread_keep_alive"));
    CHECK_THAT(build_error(weft::builder::multi_thread().thread_name("")),
               Catch::Contains("thread_name"));
    CHECK_THAT(build_error(weft::builder::multi_thread().seed(7)), Catch::Contains("seed"));
    CHECK_THAT(build_error(weft::builder::multi_thread().blocking_warning_threshold(-1ms)),
               Catch::Contains("blocking_warning_threshold"));
    CHECK_THROWS_WITH(weft::task_builder().stack_size(100), Catch::Contains("stack_size"));
}

TEST_CASE("builder::worker_threads sets the number of workers", "[runtime][builder]") {
    auto rt = weft::builder::multi_thread().worker_threads(3).build();
    CHECK(rt.metrics().workers == 3);
    auto ct = weft::builder::current_thread().build();
    CHECK(ct.metrics().workers == 1);
}

TEST_CASE("thread_name and thread start/stop hooks apply to workers", "[runtime][builder]") {
    std::atomic<int> started{0}, stopped{0};
    std::string name;
    {
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .thread_name("weft-test-name-too-long")
                      .on_thread_start([&] { started.fetch_add(1); })
                      .on_thread_stop([&] { stopped.fetch_add(1); })
                      .build();
        name = rt.block_on([] {
            char buf[32] = {};
            pthread_getname_np(pthread_self(), buf, sizeof buf);
            return std::string(buf);
        });
    }
    CHECK(name == std::string("weft-test-name-too-long").substr(0, 15));
    CHECK(started.load() == 2);
    CHECK(stopped.load() == 2);
}

TEST_CASE("current_thread runs every task on the thread in block_on", "[runtime][builder]") {
    auto rt = weft::builder::current_thread().build();
    auto me = weft::test::current_thread_id();
    bool all_here = rt.block_on([me] {
        std::vector<weft::join_handle<std::thread::id>> hs;
        for (int i = 0; i < 50; ++i) {
            hs.push_back(weft::spawn([] {
                weft::yield_now();
                weft::sleep_for(1ms);
                return weft::test::current_thread_id();
            }));
        }
        bool ok = weft::test::current_thread_id() == me;
        for (auto& h : hs) ok = ok && h.join() == me;
        return ok;
    });
    CHECK(all_here);
}
