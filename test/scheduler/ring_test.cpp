// The mpsc channel's ring (include/weft/channel/detail/ring.hpp) against a std::deque model:
// random push_back / push_front / pop_front within a limit, growth by doubling, and the strong
// guarantee when an element's move throws. (Kept with the other core-structure tests.)
#include <weft/channel/detail/ring.hpp>

#include "support/harness.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <stdexcept>
#include <vector>

namespace {
// Counts live instances; its move constructor throws when the shared countdown reaches zero.
struct item {
    static inline long alive = 0;
    static inline long throw_after = -1;  // moves left before one throws; -1: never
    int v;
    explicit item(int x)
        : v(x) {
        ++alive;
    }
    item(item&& o)
        : v(o.v) {
        if (throw_after == 0) throw std::runtime_error("move failed");
        if (throw_after > 0) --throw_after;
        ++alive;
    }
    item(const item&) = delete;
    ~item() { --alive; }
};

using ring = weft::detail::chan::ring<item>;

std::vector<int> drain(ring& r) {
    std::vector<int> out;
    while (!r.empty()) out.push_back(r.pop_front().v);
    return out;
}
}  // namespace

TEST_CASE("ring: random operations match a deque model, within the limit", "[scheduler][ring]") {
    std::uint64_t rng = 0xd1b54a32d192ed03ULL;
    auto next = [&rng](std::uint64_t n) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng % n;
    };
    const int rounds = static_cast<int>(weft::test::scaled(300));
    for (int round = 0; round < rounds; ++round) {
        std::size_t limit = 1 + next(40);
        std::size_t initial = next(20);
        {
            ring r(initial, limit);
            std::deque<int> model;
            int counter = 0;
            for (int step = 0; step < 300; ++step) {
                std::uint64_t op = next(10);
                if (op < 5) {
                    if (r.full()) {
                        REQUIRE(model.size() >= limit);
                        continue;
                    }
                    r.push_back(item(++counter));
                    model.push_back(counter);
                } else if (op < 6) {
                    // A cancelled receiver's value goes back in front, possibly one past the
                    // limit, never further (senders wait while full()).
                    if (model.size() > limit) continue;
                    r.push_front(item(++counter));
                    model.push_front(counter);
                } else {
                    if (model.empty()) {
                        REQUIRE(r.empty());
                        continue;
                    }
                    REQUIRE(r.pop_front().v == model.front());
                    model.pop_front();
                }
                REQUIRE(r.size() == model.size());
                REQUIRE(r.full() == (model.size() >= limit));
                REQUIRE(item::alive == static_cast<long>(model.size()));
            }
            ring moved(std::move(r));  // moving keeps the contents and order
            CHECK(r.empty());
            CHECK(drain(moved) == std::vector<int>(model.begin(), model.end()));
        }
        REQUIRE(item::alive == 0);
    }
}

TEST_CASE("ring: a throwing move during growth leaves the ring unchanged", "[scheduler][ring]") {
    {
        ring r(2, 100);
        r.push_back(item(1));
        r.push_back(item(2));
        (void)r.pop_front();
        r.push_back(item(3));   // wrapped: [2, 3] with head at 1
        item::throw_after = 1;  // growth moves the first value, then the second throws
        CHECK_THROWS_AS(r.push_back(item(4)), std::runtime_error);
        item::throw_after = -1;
        CHECK(r.size() == 2);
        CHECK(item::alive == 2);
        item::throw_after = 1;
        CHECK_THROWS_AS(r.push_front(item(0)), std::runtime_error);
        item::throw_after = -1;
        CHECK(drain(r) == std::vector<int>{2, 3});
    }
    CHECK(item::alive == 0);
}
