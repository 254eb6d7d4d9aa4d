// inject_queue (lib/scheduler/inject_queue.hpp) tested directly with plain nodes: FIFO order,
// batches, and many producers against a batch consumer while a reader checks len/is_empty.
#include "scheduler/inject_queue.hpp"

#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {
struct node {
    node* queue_next_ = nullptr;
    std::uint32_t id = 0;
};
using inject = weft::detail::basic_inject_queue<node>;
}  // namespace

TEST_CASE("inject_queue: push, push_batch and pop_batch keep FIFO order and the length",
          "[scheduler][inject_queue]") {
    inject q;
    std::vector<node> n(6);
    for (std::uint32_t i = 0; i < 6; ++i) n[i].id = i;
    CHECK(q.is_empty());
    CHECK(q.pop() == nullptr);
    CHECK(q.pop_batch(4, [](node*) { FAIL("nothing to sink"); }) == nullptr);
    q.push(&n[0]);
    n[1].queue_next_ = &n[2];
    n[2].queue_next_ = &n[3];
    n[3].queue_next_ = nullptr;
    q.push_batch(&n[1], &n[3], 3);
    q.push(&n[4]);
    CHECK(q.len() == 5);
    CHECK(q.pop_batch(0, [](node*) {}) == nullptr);  // max 0 takes nothing
    std::vector<std::uint32_t> sunk;
    node* first = q.pop_batch(3, [&](node* t) {
        CHECK(t->queue_next_ == nullptr);
        sunk.push_back(t->id);
    });
    REQUIRE(first != nullptr);
    CHECK(first->id == 0);
    CHECK(sunk == std::vector<std::uint32_t>{1, 2});
    CHECK(q.len() == 2);
    sunk.clear();
    first = q.pop_batch(10, [&](node* t) { sunk.push_back(t->id); });  // more than there is
    CHECK(first->id == 3);
    CHECK(sunk == std::vector<std::uint32_t>{4});
    CHECK(q.is_empty());
    CHECK(q.len() == 0);
    q.push(&n[5]);  // usable again after running empty
    CHECK(q.pop()->id == 5);
}

TEST_CASE("inject_queue: three producers, a batch consumer; every task once, len never above "
          "what was pushed",
          "[scheduler][inject_queue]") {
    const std::size_t per = weft::test::scaled(60'000);
    constexpr int producers = 3;
    const std::size_t total = per * producers;
    inject q;
    std::vector<node> nodes(total);
    for (std::size_t i = 0; i < total; ++i) nodes[i].id = static_cast<std::uint32_t>(i);
    auto seen = std::make_unique<std::atomic<int>[]>(total);
    std::atomic<std::size_t> pushed{0};
    std::atomic<std::size_t> popped{0};
    std::atomic<bool> bad_len{false};
    std::atomic<bool> stop{false};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);

    std::vector<std::thread> ts;
    for (int p = 0; p < producers; ++p) {
        ts.emplace_back([&, p] {
            std::size_t base = static_cast<std::size_t>(p) * per;
            std::size_t i = 0;
            while (i < per) {
                // Alternate single pushes and batches of up to 5.
                std::size_t k = std::min<std::size_t>(per - i, 1 + (i % 5));
                for (std::size_t j = 0; j < k; ++j) {
                    nodes[base + i + j].queue_next_ =
                        j + 1 < k ? &nodes[base + i + j + 1] : nullptr;
                }
                pushed.fetch_add(k, std::memory_order_seq_cst);  // before: len may count them
                if (k == 1) {
                    q.push(&nodes[base + i]);
                } else {
                    q.push_batch(&nodes[base + i], &nodes[base + i + k - 1], k);
                }
                i += k;
            }
        });
    }
    // A reader: len() is never more than what producers announced, and it never wraps.
    ts.emplace_back([&] {
        while (!stop.load()) {
            std::size_t len = q.len();
            if (len > pushed.load(std::memory_order_seq_cst)) bad_len.store(true);
        }
    });
    std::size_t max = 1;
    while (popped.load() < total && std::chrono::steady_clock::now() < deadline) {
        max = max % 8 + 1;
        auto take = [&](node* t) {
            seen[t->id].fetch_add(1, std::memory_order_relaxed);
            popped.fetch_add(1);
        };
        if (node* t = q.pop_batch(max, take)) {
            take(t);
        } else {
            std::this_thread::yield();
        }
    }
    stop.store(true);
    for (auto& t : ts) t.join();
    REQUIRE(popped.load() == total);
    CHECK_FALSE(bad_len.load());
    CHECK(q.is_empty());
    CHECK(q.len() == 0);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < total; ++i) wrong += seen[i].load() != 1;
    CHECK(wrong == 0);
}
