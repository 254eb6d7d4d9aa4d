// How a select of callables starts its branches: the first one runs inline on the caller's
// fiber and the others start only when it suspends (task/detail/inline_branch.hpp), from
// the branch the call site's habit picks (select_claim.hpp, select_pick). What must hold:
//   - a branch that wins without suspending starts no fiber (the select's cost);
//   - a ready branch wins within max_probe_gap selects however often the other is ready
//     (fairness), and branches that are always ready take turns;
//   - an inline branch that suspends lets its siblings run, whether it parks, yields or
//     waits in a nested select, and when it loses it is cut (its destructors run) before
//     select returns, having taken nothing.
// Every wait is bounded by a weft::timeout.
#include "support/harness.hpp"

#include <weft/channel.hpp>
#include <weft/sync.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>

using namespace std::chrono_literals;

namespace {

/// Runs `f` as a task of a fresh runtime under weft::timeout (weft::elapsed after 10 s);
/// not weft::test::run_bounded, which bounds a whole thread by wall time.
template <class F>
auto bounded_task(F f) {
    auto rt = weft::test::make_runtime();
    return rt.block_on([&] { return weft::timeout(10s, f); });
}

}  // namespace

TEST_CASE("a select branch that wins without suspending starts no fiber", "[select][start]") {
    auto rt = weft::test::make_runtime();
    constexpr int selects = 2000;
    auto before = rt.metrics().spawned_tasks;
    int firsts = rt.block_on([] {
        return weft::spawn([] {
                   weft::notify never;
                   int firsts = 0;
                   for (int i = 0; i < selects; ++i) {
                       auto r = weft::select([] { return 1; }, [&] { never.notified(); });
                       firsts += r.index() == 0;
                   }
                   return firsts;
               })
            .join();
    });
    auto spawned = rt.metrics().spawned_tasks - before;
    CHECK(firsts == selects);
    // One task for the loop; then a fiber only for the probes that start the parked branch
    // first (every max_probe_gap selects once they keep losing), not two per select.
    INFO("tasks spawned for " << selects << " selects: " << spawned);
    CHECK(spawned <= 1 + selects / weft::detail::max_probe_gap + 16);
}

TEST_CASE("a ready select branch wins within max_probe_gap selects of a busy sibling",
          "[select][start][fairness]") {
    auto rt = weft::test::make_runtime();
    auto r = rt.block_on([] {
        return weft::timeout(20s, [] {
            auto [tx, rx] = weft::mpsc::unbounded_channel<int>();
            weft::notify ready;
            std::size_t worst = 0, rounds = 0, received = 0;
            // The receive branch is always ready; the notification is ready from the moment
            // notify_one stores its permit until the select that takes it.
            for (int i = 0; i < 100'000; ++i) tx.send(i);
            std::size_t since = 0;
            bool waiting = false;  // a permit is stored and not taken yet
            for (int i = 0; i < 60'000; ++i) {
                if (i % 700 == 350) {
                    ready.notify_one();
                    since = 0;
                    waiting = true;
                }
                auto ev = weft::select([&] { return rx.recv(); }, [&] { ready.notified(); });
                if (waiting) ++since;
                if (ev.index() == 0) {
                    ++received;
                    continue;
                }
                worst = std::max(worst, since);
                waiting = false;
                ++rounds;
            }
            return std::tuple<std::size_t, std::size_t, std::size_t>(worst, rounds, received);
        });
    });
    auto [worst, rounds, received] = r;
    INFO("worst selects until the ready branch won: " << worst);
    CHECK(rounds == 60'000 / 700 + (60'000 % 700 > 350 ? 1 : 0));
    CHECK(worst >= 1);
    CHECK(worst <= weft::detail::max_probe_gap);
    CHECK(received + rounds == 60'000);
}

TEST_CASE("select branches that are always ready win in turn", "[select][start][fairness]") {
    auto rt = weft::test::make_runtime();
    auto wins = rt.block_on([] {
        std::array<int, 3> wins{};
        int last = -1, repeats = 0;
        for (int i = 0; i < 300; ++i) {
            auto r = weft::select([] { return 0; }, [] { return 1; }, [] { return 2; });
            int w = static_cast<int>(r.index());
            repeats += w == last;
            last = w;
            ++wins[static_cast<std::size_t>(w)];
        }
        wins[0] += 1000 * repeats;  // no branch may win twice in a row
        return wins;
    });
    CHECK(wins[0] == 100);
    CHECK(wins[1] == 100);
    CHECK(wins[2] == 100);
}

TEST_CASE("an inline select branch that parks and loses is cut before select returns",
          "[select][start][cancel]") {
    auto res = bounded_task([] {
        auto [tx, rx] = weft::mpsc::channel<int>(4);
        int cut = 0, wrong = 0;
        for (int i = 0; i < 200; ++i) {
            struct guard {
                int& n;
                ~guard() { ++n; }
            };
            // select_biased starts the receive first: it parks on the empty channel.
            auto r = weft::select_biased(
                [&] {
                    guard g{cut};
                    return rx.recv();
                },
                [] { return 7; });
            wrong += r.index() != 1 || std::get<1>(r) != 7 || cut != i + 1;
            // The cut receive took nothing: a value sent now is the next one received.
            tx.send(i);
            auto v = rx.recv();
            wrong += !v || *v != i;
        }
        return std::pair<int, int>(cut, wrong);
    });
    CHECK(res.first == 200);
    CHECK(res.second == 0);
}

TEST_CASE("an inline select branch that yields lets its siblings win", "[select][start]") {
    auto r = bounded_task([] {
        return weft::select_biased(
            [] {
                for (;;) weft::yield_now();
            },
            [] { return 3; });
    });
    REQUIRE(r.index() == 1);
    CHECK(std::get<1>(r) == 3);
}

TEST_CASE("a nested select suspending inline starts the enclosing select's branches too",
          "[select][start][nested]") {
    auto r = bounded_task([] {
        auto [tx, rx] = weft::mpsc::channel<int>(1);
        weft::notify n;
        auto outer = weft::select_biased(
            [&] {
                // Both inner branches wait; only the outer sibling can end this select.
                auto inner = weft::select_biased([&] { return rx.recv(); }, [&] { n.notified(); });
                return static_cast<int>(inner.index());
            },
            [] { return 5; });
        // The cut inner receive took nothing either.
        tx.send(9);
        auto v = rx.recv();
        int won = outer.index() == 1 ? std::get<1>(outer) : -1;
        return std::pair<int, int>(won, v.value_or(-1));
    });
    CHECK(r.first == 5);
    CHECK(r.second == 9);
}

TEST_CASE("an inline select branch runs as the calling task", "[select][start]") {
    auto rt = weft::test::make_runtime();
    auto ok = rt.block_on([] {
        return weft::spawn([] {
                   auto me = weft::this_task::id();
                   auto r = weft::select([&] { return weft::this_task::id() == me; },
                                         [&] { return weft::this_task::id() == me; });
                   return std::visit([](bool b) { return b; }, r);
               })
            .join();
    });
    CHECK(ok);
}
