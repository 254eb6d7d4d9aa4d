// A task's exit runs its own destructors as itself: a result nobody takes and the task_local
// values it inherited die on the task's own fiber (this_task::id() is its id, and a
// destructor that suspends suspends that task), not on whichever task the worker switches to
// next. A chatty pair keeps a next task ready, so the direct task-to-task switch happens.
#include "support/harness.hpp"

#include <weft/sync.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Records, from its destructor, the id of the task it is destroyed on (0: not in a task),
// unless it was moved from.
struct id_recorder {
    std::shared_ptr<std::atomic<weft::task_id>> seen;
    explicit id_recorder(std::shared_ptr<std::atomic<weft::task_id>> s)
        : seen(std::move(s)) {}
    id_recorder(const id_recorder& o)
        : seen(o.seen) {}
    id_recorder(id_recorder&& o) noexcept
        : seen(std::move(o.seen)) {}
    id_recorder& operator=(const id_recorder&) = delete;
    ~id_recorder() {
        if (seen) seen->store(weft::this_task::id());
    }
};

// Keeps a worker busy switching between two tasks, so a task that ends there is followed by
// a direct switch into one of them.
struct chatter {
    std::shared_ptr<std::atomic<bool>> stop = std::make_shared<std::atomic<bool>>(false);
    weft::join_handle<void> a, b;
    void start() {
        auto na = std::make_shared<weft::notify>();
        auto nb = std::make_shared<weft::notify>();
        auto member = [stop = stop](std::shared_ptr<weft::notify> mine,
                                    std::shared_ptr<weft::notify> other) {
            auto until = std::chrono::steady_clock::now() + 5s;
            while (!stop->load() && std::chrono::steady_clock::now() < until) {
                other->notify_one();
                mine->notified();
            }
            stop->store(true);
            other->notify_one();
        };
        a = weft::spawn_local([member, na, nb] { member(na, nb); });
        b = weft::spawn_local([member, na, nb] { member(nb, na); });
    }
    void finish() {
        stop->store(true);
        a.join();
        b.join();
    }
};

}  // namespace

TEST_CASE("a detached task's result is destroyed on the task itself", "[task][exit]") {
    auto rt = weft::test::make_runtime(1);
    rt.block_on([] {
        chatter c;
        c.start();
        for (int round = 0; round < 50; ++round) {
            auto seen = std::make_shared<std::atomic<weft::task_id>>(~weft::task_id{0});
            auto go = std::make_shared<weft::notify>();
            auto own_id = std::make_shared<std::atomic<weft::task_id>>(0);
            {
                // Dropped before the task ends: nobody will take the result.
                auto h = weft::spawn_local([seen, go, own_id] {
                    own_id->store(weft::this_task::id());
                    go->notified();
                    return id_recorder(seen);
                });
                weft::yield_now();
            }
            go->notify_one();
            auto until = std::chrono::steady_clock::now() + 2s;
            while (seen->load() == ~weft::task_id{0} && std::chrono::steady_clock::now() < until) {
                weft::yield_now();
            }
            REQUIRE(seen->load() != ~weft::task_id{0});
            CHECK(seen->load() == own_id->load());
        }
        c.finish();
    });
}

TEST_CASE("a finished task's result is destroyed by the handle that lets it go", "[task][exit]") {
    auto rt = weft::test::make_runtime(1);
    rt.block_on([] {
        auto seen = std::make_shared<std::atomic<weft::task_id>>(~weft::task_id{0});
        auto h = weft::spawn([seen] { return id_recorder(seen); });
        while (!h.is_finished()) weft::yield_now();
        weft::task_id me = weft::this_task::id();
        { auto dropped = std::move(h); }
        CHECK(seen->load() == me);
    });
}

TEST_CASE("inherited task_local values are destroyed on their own task", "[task][exit]") {
    static weft::task_local<id_recorder> local{/*inherited=*/true};
    auto rt = weft::test::make_runtime(1);
    rt.block_on([] {
        chatter c;
        c.start();
        for (int round = 0; round < 20; ++round) {
            auto seen = std::make_shared<std::atomic<weft::task_id>>(~weft::task_id{0});
            auto parent_seen = std::make_shared<std::atomic<weft::task_id>>(0);
            auto child_id = std::make_shared<std::atomic<weft::task_id>>(0);
            weft::join_handle<void> child;
            local.scope(id_recorder(parent_seen), [&] {
                // The child inherits a copy; the copy reports to `seen`.
                local.get().seen = seen;
                child = weft::spawn_local([child_id] {
                    child_id->store(weft::this_task::id());
                    weft::yield_now();
                });
                local.get().seen = parent_seen;
            });
            child.join();
            auto until = std::chrono::steady_clock::now() + 2s;
            while (seen->load() == ~weft::task_id{0} && std::chrono::steady_clock::now() < until) {
                weft::yield_now();
            }
            REQUIRE(seen->load() != ~weft::task_id{0});
            CHECK(seen->load() == child_id->load());
        }
        c.finish();
    });
}
