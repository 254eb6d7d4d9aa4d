// A wake racing a park is never lost: tasks on different workers (and plain threads) hand a
// token back and forth through the raw park/waker protocol, so every hand-off races the
// other side's switch-out. A lost wake hangs, and the watchdog fails the test.
#include "support/harness.hpp"

#include <weft/detail/park.hpp>

#include <catch2/catch.hpp>

#include <mutex>
#include <thread>

namespace {
// A binary event: signal() sets it and wakes the waiter; wait() parks until set, then clears.
class event {
   public:
    void wait() {
        std::unique_lock lock(mu_);
        while (!set_) {
            waiter_ = weft::detail::current_waker("event");
            lock.unlock();
            weft::detail::park("event");
            lock.lock();
        }
        set_ = false;
    }
    void signal() {
        weft::detail::waker w;
        {
            std::lock_guard lock(mu_);
            set_ = true;
            w = std::move(waiter_);
        }
        w.wake();  // outside the lock: the waiter may be switching out right now
    }

   private:
    std::mutex mu_;
    bool set_ = false;
    weft::detail::waker waiter_;
};
}  // namespace

TEST_CASE("ping-pong between tasks on two workers never loses a wake", "[task][wake][stress]") {
    const int rounds = static_cast<int>(weft::test::scaled(100'000));
    auto rt = weft::test::make_runtime(2);
    int total = rt.block_on([rounds] {
        std::vector<weft::join_handle<int>> hs;
        for (int pair = 0; pair < 4; ++pair) {
            auto ping = std::make_shared<event>();
            auto pong = std::make_shared<event>();
            hs.push_back(weft::spawn([=] {
                for (int i = 0; i < rounds / 4; ++i) {
                    ping->signal();
                    pong->wait();
                }
                return rounds / 4;
            }));
            hs.push_back(weft::spawn([=] {
                for (int i = 0; i < rounds / 4; ++i) {
                    ping->wait();
                    pong->signal();
                }
                return 0;
            }));
        }
        int s = 0;
        for (auto& h : hs) s += h.join();
        return s;
    });
    CHECK(total == rounds / 4 * 4);
}

TEST_CASE("ping-pong between a task and a plain thread never loses a wake",
          "[task][wake][stress]") {
    const int rounds = static_cast<int>(weft::test::scaled(20'000));
    auto rt = weft::test::make_runtime(2);
    event to_task, to_thread;
    auto h = rt.spawn([&] {
        for (int i = 0; i < rounds; ++i) {
            to_task.wait();
            to_thread.signal();
        }
    });
    for (int i = 0; i < rounds; ++i) {
        to_task.signal();
        to_thread.wait();
    }
    h.join();
    SUCCEED();
}
