// Catch2 main for every test executable, plus a watchdog: a test case that runs longer than
// WEFT_TEST_TIMEOUT seconds (default 120) is reported by name, with the task dump of every
// live runtime (where each task waits, and its stack), and the process aborts, so a lost
// wake-up fails the suite with the waiting tasks named instead of hanging CI.
#define CATCH_CONFIG_MAIN
#include "../../lib/scheduler/scheduler.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace {

class watchdog {
   public:
    watchdog()
        : thread_([this] { loop(); }) {}
    ~watchdog() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void arm(std::string name) {
        std::lock_guard lock(mu_);
        name_ = std::move(name);
        deadline_ = std::chrono::steady_clock::now() + limit();
        armed_ = true;
        cv_.notify_all();
    }
    void disarm() {
        std::lock_guard lock(mu_);
        armed_ = false;
    }
    static watchdog& instance() {
        static watchdog w;
        return w;
    }

   private:
    static std::chrono::seconds limit() {
        const char* env = std::getenv("WEFT_TEST_TIMEOUT");
        return std::chrono::seconds(env ? std::atoi(env) : 120);
    }
    void loop() {
        std::unique_lock lock(mu_);
        while (!stop_) {
            if (!armed_) {
                cv_.wait(lock);
                continue;
            }
            if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ &&
                std::chrono::steady_clock::now() >= deadline_) {
                std::fprintf(
                    stderr,
                    "\nweft test watchdog: test case '%s' did not finish in %lld s (hang?)\n",
                    name_.c_str(), static_cast<long long>(limit().count()));
                std::fflush(stderr);
                print_live_runtimes();
                std::_Exit(3);
            }
        }
    }
    // The dump runs on a thread of its own, given 10 s: the hang may hold a lock that the
    // dump needs too, and the watchdog must end the process either way.
    static void print_live_runtimes() {
        auto text = std::make_shared<std::promise<std::string>>();
        auto got = text->get_future();
        std::thread([text] {
            text->set_value(weft::detail::scheduler::dump_every_live());
        }).detach();
        if (got.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
            std::string dump = got.get();
            std::fprintf(stderr, "weft test watchdog: the live runtimes' tasks:\n%s\n",
                         dump.empty() ? "(no live runtime)" : dump.c_str());
        } else {
            std::fprintf(stderr, "weft test watchdog: the task dump did not finish in 10 s\n");
        }
        std::fflush(stderr);
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::string name_;
    std::chrono::steady_clock::time_point deadline_;
    bool armed_ = false;
    bool stop_ = false;
    std::thread thread_;
};

struct watchdog_listener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        watchdog::instance().arm(info.name);
    }
    void testCaseEnded(const Catch::TestCaseStats&) override { watchdog::instance().disarm(); }
};

}  // namespace

CATCH_REGISTER_LISTENER(watchdog_listener)
