// Catch2 main for every test executable, plus a watchdog: a test case that runs longer than
// WEFT_TEST_TIMEOUT seconds (default 120) is reported by name and the process aborts, so a
// lost wake-up fails the suite instead of hanging CI.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
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
                std::_Exit(3);
            }
        }
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
