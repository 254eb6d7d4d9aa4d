// A select loser is cancelled before it resumes (docs/conventions.md): a value, a result or a
// message handed to a losing branch at the moment the winner ends goes back where it came from.
// Each test runs the race on many seeded, paused current_thread runtimes: the seed orders the ready
// tasks, so some seeds hand the value over in the same instant the timer branch wins.
#include "support/harness.hpp"

#include <weft/channel.hpp>
#include <weft/sync.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <variant>

using namespace std::chrono_literals;

namespace {
constexpr std::uint64_t seeds = 60;

weft::runtime seeded(std::uint64_t seed) {
    return weft::builder::current_thread().start_paused(true).seed(seed).build();
}
}  // namespace

TEST_CASE("a select loser's mpsc recv gives the value back", "[concurrency][select][cancel]") {
    int lost_runs = 0;
    for (std::uint64_t seed = 0; seed < seeds; ++seed) {
        auto rt = seeded(seed);
        int sum = rt.block_on([] {
            auto [tx, rx] = weft::mpsc::channel<int>(1);
            auto producer = weft::spawn([tx = std::move(tx)] {
                for (int i = 1; i <= 5; ++i) {
                    weft::sleep_for(30ms);  // lands together with the 10 ms timer's 3rd tick
                    tx.send(i);
                }
            });
            int sum = 0;
            for (;;) {
                auto ev = weft::select([&] { return rx.recv(); }, [] { weft::sleep_for(10ms); });
                if (ev.index() == 1) continue;
                std::optional<int> v = std::get<0>(ev);
                if (!v) break;
                sum += *v;
            }
            producer.join();
            return sum;
        });
        if (sum != 15) ++lost_runs;
    }
    CHECK(lost_runs == 0);
}

TEST_CASE("a select loser's oneshot recv leaves the value for a later recv",
          "[concurrency][select][cancel]") {
    int lost_runs = 0;
    for (std::uint64_t seed = 0; seed < seeds; ++seed) {
        auto rt = seeded(seed);
        bool got = rt.block_on([] {
            auto [tx, rx] = weft::oneshot::channel<int>();
            auto sender = weft::spawn([tx = std::move(tx)]() mutable {
                weft::sleep_for(10ms);
                tx.send(42);
            });
            for (;;) {
                auto ev = weft::select([&] { return rx.recv(); }, [] { weft::sleep_for(10ms); });
                if (ev.index() == 0) {
                    sender.join();
                    return std::get<0>(ev) == 42;
                }
                // The timer won; if the value was handed over meanwhile it must still be there.
                if (sender.is_finished()) {
                    sender.join();
                    std::optional<int> v = rx.try_recv();
                    return v && *v == 42;
                }
            }
        });
        if (!got) ++lost_runs;
    }
    CHECK(lost_runs == 0);
}

TEST_CASE("a select loser's join leaves the result in the handle",
          "[concurrency][select][cancel]") {
    int lost_runs = 0;
    for (std::uint64_t seed = 0; seed < seeds; ++seed) {
        auto rt = seeded(seed);
        bool got = rt.block_on([] {
            auto h = weft::spawn([] {
                weft::sleep_for(10ms);
                return 7;
            });
            for (;;) {
                auto ev = weft::select([&] { return h.join(); }, [] { weft::sleep_for(10ms); });
                if (ev.index() == 0) return std::get<0>(ev) == 7;
                if (h.is_finished()) return h.join() == 7;  // not consumed by the loser
            }
        });
        if (!got) ++lost_runs;
    }
    CHECK(lost_runs == 0);
}

TEST_CASE("an aborted receiver's value stays in the channel", "[concurrency][cancel]") {
    // The same hand-over race with abort instead of select, on two workers: a receiver parks,
    // a sender sends while the receiver is being aborted; the value is either returned by the
    // receiver or still in the channel, never gone.
    auto rt = weft::test::make_runtime();
    int rounds = static_cast<int>(weft::test::scaled(2000));
    int lost = rt.block_on([rounds] {
        int lost = 0;
        for (int i = 0; i < rounds; ++i) {
            auto [tx, rx] = weft::mpsc::channel<int>(4);
            auto receiver = weft::spawn([&rx = rx] { return rx.recv(); });
            weft::yield_now();
            auto sender = weft::spawn([tx = std::move(tx), i] { tx.send(i); });
            receiver.abort();
            sender.join();
            std::optional<int> got;
            try {
                got = receiver.join();
            } catch (const weft::join_error&) {}
            if (!got) got = rx.try_recv();
            if (!got || *got != i) ++lost;
        }
        return lost;
    });
    CHECK(lost == 0);
}

TEST_CASE("a select loser's try_ operation takes nothing", "[concurrency][select][cancel]") {
    // The winner takes its value first and yields before it returns; the loser's try_recv,
    // try_lock, try_join_next or borrow_and_update runs meanwhile and finds something to take. A
    // branch that took it and returned lost the race at its end, and its abort destroyed what it
    // took (a value, a result, a lock left held by nobody). (A semaphore permit a loser took would
    // go back when its abort destroys it; try_acquire claims all the same.) It must take nothing:
    // what it found is still there after the select. On a current_thread runtime the branches start
    // in order, so the winner's receive comes first.
    auto rt = weft::builder::current_thread().build();
    rt.block_on([] {
        auto [wtx, wrx] = weft::mpsc::channel<int>(1);
        auto winner = [&wrx = wrx] {
            auto v = wrx.recv();  // claims the race
            weft::yield_now();    // the loser runs now
            return v;
        };
        // The race: the winner against `take` (the try_ operation under test).
        auto race = [&wtx = wtx, &winner](auto take) {
            wtx.send(1);
            return weft::select_biased(winner, take);
        };
        // Shuffle mode (WEFT_SHUFFLE) may start the loser first; it then wins with what it took.
        // Either way the value is in exactly one place: the select's result or where it was
        // (which `take`, tried once more, finds).
        auto value_kept = [&race](auto take) {
            auto r = race(take);
            if (r.index() == 1 && std::get<1>(r)) return *std::get<1>(r) == 7;  // the try won
            return take() == std::optional<int>(7);
        };
        SECTION("mpsc::try_recv") {
            auto [tx, rx] = weft::mpsc::channel<int>(1);
            tx.send(7);
            CHECK(value_kept([&rx = rx] { return rx.try_recv(); }));
        }
        SECTION("oneshot::try_recv") {
            auto [tx, rx] = weft::oneshot::channel<int>();
            tx.send(7);
            CHECK(value_kept([&rx = rx] { return rx.try_recv(); }));
        }
        SECTION("broadcast::try_recv") {
            auto [tx, rx] = weft::broadcast::channel<int>(4);
            tx.send(7);
            CHECK(value_kept([&rx = rx] { return rx.try_recv(); }));
        }
        SECTION("mutex::try_lock") {
            weft::mutex m;
            auto r = race([&m] { return m.try_lock(); });
            if (r.index() == 1 && std::get<1>(r)) m.unlock();  // the try won: it holds the lock
            REQUIRE(m.try_lock());                             // not left held by an aborted loser
            m.unlock();
        }
        SECTION("shared_mutex::try_lock_shared") {
            weft::shared_mutex m;
            auto r = race([&m] { return m.try_lock_shared(); });
            if (r.index() == 1 && std::get<1>(r)) m.unlock_shared();
            REQUIRE(m.try_lock());  // no shared lock left behind
            m.unlock();
        }
        SECTION("watch::receiver::borrow_and_update") {
            auto [tx, rx] = weft::watch::channel<int>(0);
            tx.send(7);
            auto r = race([&rx = rx] { return std::optional<int>(*rx.borrow_and_update()); });
            // A loser reads the value but marks nothing seen: the next changed() still sees 7.
            CHECK((r.index() == 1 || rx.has_changed()));
        }
        SECTION("join_set::try_join_next") {
            weft::join_set<int> set;
            set.spawn([] { return 7; });
            weft::sleep_for(std::chrono::milliseconds(1));  // the task ends meanwhile
            REQUIRE(set.size() == 1);
            CHECK(value_kept([&set] { return set.try_join_next(); }));
        }
    });
}

TEST_CASE("a select loser's send sends nothing", "[concurrency][select][cancel]") {
    // Both branches send into a channel with room for both values; the first yields after its
    // send, so the second, started meanwhile, sends and returns first. A send that did not
    // claim the race left the first branch's value in the channel although the second won:
    // two values for one select. Claiming, the first send holds the race, the second finds it
    // held and sends nothing, and the first wins when it returns. (select rotates which branch
    // starts first: either way, exactly the winner's value is in the channel.)
    auto rt = weft::test::make_runtime();
    int rounds = static_cast<int>(weft::test::scaled(500));
    int wrong = rt.block_on([rounds] {
        int wrong = 0;
        for (int i = 0; i < rounds; ++i) {
            auto [tx, rx] = weft::mpsc::channel<int>(2);
            auto r = weft::select(
                [&tx = tx] {
                    tx.send(1);
                    weft::yield_now();
                },
                [&tx = tx] {
                    tx.send(2);
                    weft::yield_now();
                });
            std::optional<int> first = rx.try_recv();
            if (!first || *first != static_cast<int>(r.index()) + 1) ++wrong;
            if (rx.try_recv()) ++wrong;  // the loser's value
        }
        return wrong;
    });
    CHECK(wrong == 0);
}

TEST_CASE("a loop branch waiting to forward into a full channel gives the race back",
          "[concurrency][select][cancel]") {
    // The forwarder received a value (holding the race) and waits for room that nobody makes.
    // Its send gives the race back, as its next recv would, so the sleep wins and select
    // returns; the value it held is dropped with its abort (as in Tokio). If the send kept the
    // race, the sleep would be refused until the forwarder's next recv, which never comes: a
    // select that ignores its shutdown branch.
    auto rt = weft::test::make_runtime();
    auto [returned, forwarded] = rt.block_on([] {
        auto [in_tx, in_rx] = weft::mpsc::channel<int>(4);
        auto [out_tx, out_rx] = weft::mpsc::channel<int>(1);
        in_tx.send(1);
        in_tx.send(2);  // forwarded to a full channel: waits for good
        bool sleep_won = false;
        try {
            auto r = weft::timeout(5s, [&] {
                return weft::select(
                    [&in_rx = in_rx, &out_tx = out_tx] {
                        while (std::optional<int> v = in_rx.recv()) out_tx.send(*v);
                    },
                    [] { weft::sleep_for(20ms); });
            });
            sleep_won = r.index() == 1;
        } catch (const weft::elapsed&) {}
        return std::pair{sleep_won, out_rx.try_recv()};
    });
    CHECK(returned);
    CHECK(forwarded == std::optional<int>(1));
}
