// local_queue (lib/scheduler/local_queue.hpp) tested directly: the owner's push/pop, steal_into
// by other threads and overflow into the inject queue, with plain nodes for tasks. Capacity 4
// makes overflow and "no room to steal into" happen constantly; 32 makes steals of several.
#include "scheduler/local_queue.hpp"

#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {
struct node {
    node* queue_next_ = nullptr;
    std::uint32_t id = 0;
};
template <std::uint32_t C>
using queue_of = weft::detail::basic_local_queue<node, weft::detail::std_sync, C>;
using inject = weft::detail::basic_inject_queue<node>;

std::vector<node> make_nodes(std::size_t n) {
    std::vector<node> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i].id = static_cast<std::uint32_t>(i);
    return v;
}
}  // namespace

TEMPLATE_TEST_CASE_SIG("local_queue: FIFO pops, and a full queue moves half plus the new task to "
                       "the inject queue, oldest first",
                       "[scheduler][local_queue]", ((std::uint32_t C), C), 4, 32) {
    queue_of<C> q;
    inject overflow;
    auto nodes = make_nodes(C + 1);
    for (std::uint32_t i = 0; i < C; ++i) {
        CHECK(q.remaining() == C - i);
        REQUIRE_FALSE(q.push_back(&nodes[i], overflow));
    }
    CHECK(q.len() == C);
    CHECK(q.remaining() == 0);
    // Full: the oldest half and the new task leave, in that order.
    REQUIRE(q.push_back(&nodes[C], overflow));
    CHECK(overflow.len() == C / 2 + 1);
    CHECK(q.len() == C / 2);
    for (std::uint32_t i = 0; i < C / 2; ++i) CHECK(overflow.pop()->id == i);
    CHECK(overflow.pop()->id == C);
    CHECK(overflow.is_empty());
    for (std::uint32_t i = C / 2; i < C; ++i) CHECK(q.pop()->id == i);
    CHECK(q.pop() == nullptr);
    CHECK(q.is_empty());
}

TEMPLATE_TEST_CASE_SIG("local_queue: a steal takes half (rounded up), returns one and respects "
                       "the thief's room",
                       "[scheduler][local_queue]", ((std::uint32_t C), C), 4, 32) {
    queue_of<C> src;
    queue_of<C> dst;
    inject overflow;
    auto nodes = make_nodes(2 * C);
    std::uint32_t stolen = 0;
    CHECK(src.steal_into(dst, stolen) == nullptr);  // empty
    CHECK(stolen == 0);

    for (std::uint32_t i = 0; i < 3; ++i) REQUIRE_FALSE(src.push_back(&nodes[i], overflow));
    node* got = src.steal_into(dst, stolen);
    // ceil(3 / 2) = 2 taken from the head: node 0 waits in dst, node 1 is returned to run.
    REQUIRE(got != nullptr);
    CHECK(stolen == 2);
    CHECK(got->id == 1);
    CHECK(dst.len() == 1);
    CHECK(dst.pop()->id == 0);
    CHECK(src.len() == 1);

    got = src.steal_into(dst, stolen);  // one left: it is returned, dst unchanged
    REQUIRE(got != nullptr);
    CHECK(got->id == 2);
    CHECK(stolen == 1);
    CHECK(dst.is_empty());

    // A thief more than half full has no room for half of ours: nothing moves.
    for (std::uint32_t i = 0; i < C / 2 + 1; ++i)
        REQUIRE_FALSE(dst.push_back(&nodes[C + i], overflow));
    REQUIRE_FALSE(src.push_back(&nodes[3], overflow));
    CHECK(src.steal_into(dst, stolen) == nullptr);
    CHECK(stolen == 0);
    CHECK(src.len() == 1);
    CHECK(dst.len() == C / 2 + 1);
}

namespace {
// The owner pushes every id once (popping some itself), thieves steal into their own queues
// and drain them, and everyone drains the overflow queue. Each id must be consumed exactly
// once. Returns a description of the first problem, or "".
template <std::uint32_t C>
std::string run_owner_and_thieves(std::size_t n, int thieves) {
    queue_of<C> src;
    inject overflow;
    auto nodes = make_nodes(n);
    auto seen = std::make_unique<std::atomic<int>[]>(n);
    std::atomic<std::size_t> consumed{0};
    std::atomic<bool> owner_done{false};
    std::atomic<std::uint64_t> overflows{0}, steals{0};
    auto take = [&](node* t) {
        seen[t->id].fetch_add(1, std::memory_order_relaxed);
        consumed.fetch_add(1, std::memory_order_acq_rel);
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::atomic<bool> timed_out{false};
    auto expired = [&] {
        if (std::chrono::steady_clock::now() < deadline) return false;
        timed_out.store(true);
        return true;
    };

    std::vector<std::thread> ts;
    for (int k = 0; k < thieves; ++k) {
        ts.emplace_back([&] {
            queue_of<C> mine;
            while (consumed.load(std::memory_order_acquire) < n && !expired()) {
                std::uint32_t stolen = 0;
                if (node* t = src.steal_into(mine, stolen)) {
                    steals.fetch_add(1, std::memory_order_relaxed);
                    take(t);
                    while (node* u = mine.pop()) take(u);
                } else if (node* u = overflow.pop()) {
                    take(u);
                } else {
                    std::this_thread::yield();
                }
            }
        });
    }
    // The owner: push two, pop one, so the queue keeps filling and overflowing.
    for (std::size_t i = 0; i < n; ++i) {
        if (src.push_back(&nodes[i], overflow)) overflows.fetch_add(1, std::memory_order_relaxed);
        if (i % 2 == 1) {
            if (node* t = src.pop()) take(t);
        }
    }
    owner_done.store(true);
    while (consumed.load(std::memory_order_acquire) < n && !expired()) {
        if (node* t = src.pop()) {
            take(t);
        } else if (node* u = overflow.pop()) {
            take(u);
        } else {
            std::this_thread::yield();
        }
    }
    for (auto& t : ts) t.join();
    if (timed_out.load()) {
        return "timed out after 60 s with " + std::to_string(consumed.load()) + " of " +
               std::to_string(n) + " consumed (a task was lost)";
    }
    for (std::size_t i = 0; i < n; ++i) {
        int s = seen[i].load();
        if (s != 1)
            return "task " + std::to_string(i) + " consumed " + std::to_string(s) + " times";
    }
    if (!src.is_empty() || !overflow.is_empty()) return "queues not empty at the end";
    UNSCOPED_INFO("capacity " << C << ", thieves " << thieves << ": " << overflows.load()
                              << " overflows, " << steals.load() << " steals");
    return "";
}
}  // namespace

TEMPLATE_TEST_CASE_SIG("local_queue: every pushed task is consumed exactly once across owner pops, "
                       "steals by 1-2 thieves and overflow",
                       "[scheduler][local_queue]", ((std::uint32_t C), C), 4, 32) {
    const std::size_t n = weft::test::scaled(200'000);
    for (int thieves = 1; thieves <= 2; ++thieves) {
        INFO("thieves: " << thieves);
        CHECK(run_owner_and_thieves<C>(n, thieves) == "");
    }
}

TEST_CASE("local_queue: the production alias has the configured capacity",
          "[scheduler][local_queue]") {
    STATIC_REQUIRE(weft::detail::local_queue::capacity == WEFT_LOCAL_QUEUE_CAPACITY);
    STATIC_REQUIRE(
        std::is_same_v<weft::detail::local_queue::overflow_queue, weft::detail::inject_queue>);
}
