// Aborts raced against grants: while one task hands out permits, locks, notifications or
// messages, another aborts a random subset of the waiters, on the other worker. A grant that
// lands on a waiter being cancelled must go to the next waiter or back (docs/conventions.md,
// cancel-safety); if one is lost, a waiter that was never aborted stays parked forever. So every
// waiter that was not aborted is joined with a deadline, and a miss is counted as a lost wake-up.
// The last case races select's own aborts against socket waits: a socket branch loses to a
// ready receive over and over, so its wait is cancelled (two wakes for one wait: the cancel
// emitter's and the completion's) at every stage; a wake lost there hangs the select, and the
// test watchdog fails the case with every task's stack.
#include "stress/stress_support.hpp"

#include <weft/channel.hpp>
#include <weft/net.hpp>
#include <weft/sync.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

enum class ending { finished, cancelled, failed, hung };

// Joins `h` from a task, giving up after `d` (a hung waiter is then aborted and reaped).
ending join_bounded(weft::join_handle<void>& h, std::chrono::milliseconds d) {
    try {
        weft::timeout(d, [&] { h.join(); });
        return ending::finished;
    } catch (const weft::elapsed&) {
        h.abort();
        try {
            h.join();
        } catch (const weft::join_error&) {}
        return ending::hung;
    } catch (const weft::join_error& e) {
        return e.is_cancelled() ? ending::cancelled : ending::failed;
    }
}

struct race_totals {
    std::uint64_t rounds = 0, waiters = 0, aborted = 0, cancelled = 0, finished = 0, failed = 0,
                  hung = 0, granted_to_aborted = 0;
    void add(ending e, bool was_aborted) {
        switch (e) {
            case ending::finished:
                ++finished;
                if (was_aborted) ++granted_to_aborted;
                break;
            case ending::cancelled:
                ++cancelled;
                break;
            case ending::failed:
                ++failed;
                break;
            case ending::hung:
                ++hung;
                break;
        }
    }
};

void yield_n(unsigned n) {
    for (unsigned i = 0; i < n; ++i) weft::yield_now();
}

// From a task: yields until `n` tasks of `rt` are parked in `what` (at most 10 s).
void wait_queued(const weft::runtime& rt, std::string_view what, std::size_t n) {
    auto deadline = weft::time::now() + 10s;
    while (weft::stress::parked_in(rt, what) < n && weft::time::now() < deadline) weft::yield_now();
}

// Marks about half of `w` waiters for abort.
std::vector<char> pick(std::minstd_rand& rng, std::size_t w) {
    std::vector<char> a(w);
    for (auto& x : a) x = static_cast<char>(rng() % 2);
    return a;
}

// Aborts the marked waiters in order, with random gaps, from its own task.
weft::join_handle<void> spawn_aborter(const std::vector<weft::join_handle<void>>& hs,
                                      const std::vector<char>& marked, unsigned seed) {
    return weft::spawn([&hs, &marked, seed] {
        std::minstd_rand rng(seed);
        for (std::size_t i = 0; i < hs.size(); ++i) {
            if (!marked[i]) continue;
            yield_n(rng() % 3);
            hs[i].abort();
        }
    });
}

void report_race(std::string_view what, const race_totals& t) {
    weft::stress::report("race {}: {} rounds, {} waiters, {} aborted ({} of them granted first), "
                         "{} lost wake-ups",
                         what, t.rounds, t.waiters, t.aborted, t.granted_to_aborted, t.hung);
}

void check_race(const race_totals& t) {
    CHECK(t.hung == 0);
    CHECK(t.failed == 0);
    CHECK(t.cancelled + t.finished == t.waiters);
    CHECK(t.cancelled > 0);
}

constexpr std::size_t waiters_per_round = 8;
constexpr std::uint64_t values = 16;  // per broadcast round
std::size_t rounds() { return weft::stress::size(5000, 20); }

}  // namespace

TEST_CASE("race: semaphore permits granted while their waiters are aborted", "[stress][race]") {
    auto rt = weft::test::make_runtime();
    race_totals t;
    std::uint64_t leaked = 0;
    rt.block_on([&] {
        std::minstd_rand rng(1);
        for (std::size_t r = 0; r < rounds(); ++r) {
            weft::semaphore sem(0);
            std::atomic<std::uint64_t> got{0};
            std::vector<weft::join_handle<void>> hs;
            for (std::size_t i = 0; i < waiters_per_round; ++i) {
                hs.push_back(weft::spawn([&] {
                    auto p = sem.acquire(1);
                    got += 1;
                    p.forget();  // keep it: every permit is then either taken or available
                }));
            }
            auto marked = pick(rng, hs.size());
            yield_n(static_cast<unsigned>(rng() % 4));
            // One permit per waiter, handed out while the aborts land.
            auto granter = weft::spawn([&sem, seed = static_cast<unsigned>(rng())] {
                std::minstd_rand rng(seed);  // its own: the main task draws from the other
                for (std::size_t i = 0; i < waiters_per_round; ++i) {
                    sem.add_permits(1);
                    yield_n(static_cast<unsigned>(rng() % 2));
                }
            });
            auto aborter = spawn_aborter(hs, marked, static_cast<unsigned>(rng()));
            granter.join();
            aborter.join();
            for (std::size_t i = 0; i < hs.size(); ++i) t.add(join_bounded(hs[i], 10s), marked[i]);
            // Conservation: each permit was taken by exactly one waiter or is still available.
            if (got.load() + sem.available_permits() != waiters_per_round) ++leaked;
            ++t.rounds;
            t.waiters += hs.size();
            for (char m : marked) t.aborted += static_cast<std::uint64_t>(m);
        }
    });
    check_race(t);
    CHECK(leaked == 0);
    report_race("semaphore", t);
}

TEST_CASE("race: mutex unlocked to waiters that are being aborted", "[stress][race]") {
    auto rt = weft::test::make_runtime();
    race_totals t;
    std::uint64_t stuck_locked = 0, overlap = 0;
    rt.block_on([&] {
        std::minstd_rand rng(2);
        for (std::size_t r = 0; r < rounds(); ++r) {
            weft::mutex m;
            std::atomic<int> inside{0};
            std::atomic<std::uint64_t> overlaps{0};
            m.lock();
            std::vector<weft::join_handle<void>> hs;
            for (std::size_t i = 0; i < waiters_per_round; ++i) {
                hs.push_back(weft::spawn([&] {
                    std::lock_guard g(m);
                    struct occupant {  // leaves on every exit (the yield may throw if aborted)
                        std::atomic<int>& in;
                        ~occupant() { in.fetch_sub(1); }
                    };
                    if (inside.fetch_add(1) != 0) overlaps += 1;
                    occupant o{inside};
                    weft::yield_now();
                }));
            }
            auto marked = pick(rng, hs.size());
            yield_n(static_cast<unsigned>(rng() % 4));
            auto aborter = spawn_aborter(hs, marked, static_cast<unsigned>(rng()));
            yield_n(static_cast<unsigned>(rng() % 3));
            m.unlock();  // hand-off to the first waiter, which may be mid-abort
            aborter.join();
            for (std::size_t i = 0; i < hs.size(); ++i) t.add(join_bounded(hs[i], 10s), marked[i]);
            if (!m.try_lock()) {
                ++stuck_locked;
            } else {
                m.unlock();
            }
            overlap += overlaps.load();
            ++t.rounds;
            t.waiters += hs.size();
            for (char x : marked) t.aborted += static_cast<std::uint64_t>(x);
        }
    });
    check_race(t);
    CHECK(stuck_locked == 0);
    CHECK(overlap == 0);
    report_race("mutex", t);
}

TEST_CASE("race: notify_one to waiters that are being aborted", "[stress][race]") {
    auto rt = weft::test::make_runtime();
    race_totals t;
    std::uint64_t short_wakes = 0, stored_left = 0;
    rt.block_on([&] {
        std::minstd_rand rng(3);
        for (std::size_t r = 0; r < rounds(); ++r) {
            weft::notify bell;
            std::atomic<std::size_t> woken{0};
            std::vector<weft::join_handle<void>> hs;
            for (std::size_t i = 0; i < waiters_per_round; ++i) {
                hs.push_back(weft::spawn([&] {
                    bell.notified();
                    woken += 1;
                }));
            }
            // Every waiter queues first (notify_one with nobody queued would store a permit,
            // and a second would coalesce with it).
            wait_queued(rt, "notify::notified", hs.size());
            auto marked = pick(rng, hs.size());
            std::size_t a = 0;
            for (char m : marked) a += static_cast<std::size_t>(m);
            // One notify_one per waiter that is not aborted: there is always a queued waiter
            // that is not aborted, so none of them needs storing, and each must wake someone.
            const std::size_t notes = hs.size() - a;
            auto notifier = weft::spawn([&bell, notes, seed = static_cast<unsigned>(rng())] {
                std::minstd_rand rng(seed);
                for (std::size_t i = 0; i < notes; ++i) {
                    bell.notify_one();
                    yield_n(static_cast<unsigned>(rng() % 2));
                }
            });
            auto aborter = spawn_aborter(hs, marked, static_cast<unsigned>(rng()));
            notifier.join();
            aborter.join();
            // Every notification woke exactly one waiter (maybe one that was aborted after the
            // grant and returned anyway, leaving one unaborted waiter without a notification).
            std::size_t spins = 0;
            while (woken.load() < notes && spins++ < 20000) weft::yield_now();
            if (woken.load() < notes) {
                weft::sleep_for(100ms);
                if (woken.load() < notes) ++short_wakes;
            }
            // No permit was stored: a notified() now would wait (checked every 8th round, as
            // each check costs a 1 ms timeout).
            if (r % 8 == 0) {
                bool stored = true;
                try {
                    weft::timeout(1ms, [&] { bell.notified(); });
                } catch (const weft::elapsed&) {
                    stored = false;
                }
                if (stored) ++stored_left;
            }
            bell.notify_waiters();  // releases the waiters whose notification an aborted one took
            for (std::size_t i = 0; i < hs.size(); ++i) t.add(join_bounded(hs[i], 10s), marked[i]);
            ++t.rounds;
            t.waiters += hs.size();
            t.aborted += a;
        }
    });
    check_race(t);
    CHECK(short_wakes == 0);
    CHECK(stored_left == 0);
    report_race("notify", t);
}

TEST_CASE("race: condition_variable notify_one to waiters that are being aborted",
          "[stress][race]") {
    auto rt = weft::test::make_runtime();
    race_totals t;
    std::uint64_t tokens_left = 0;
    rt.block_on([&] {
        std::minstd_rand rng(4);
        for (std::size_t r = 0; r < rounds(); ++r) {
            weft::mutex m;
            weft::condition_variable cv;
            std::size_t tokens = 0;  // guarded by m
            bool done = false;       // guarded by m
            std::vector<weft::join_handle<void>> hs;
            for (std::size_t i = 0; i < waiters_per_round; ++i) {
                hs.push_back(weft::spawn([&] {
                    std::unique_lock lk(m);
                    cv.wait(lk, [&] { return tokens > 0 || done; });
                    if (tokens > 0) --tokens;
                }));
            }
            yield_n(4);
            auto marked = pick(rng, hs.size());
            std::size_t a = 0;
            for (char x : marked) a += static_cast<std::size_t>(x);
            const std::size_t notes = hs.size() - a;
            auto notifier =
                weft::spawn([&m, &cv, &tokens, notes, seed = static_cast<unsigned>(rng())] {
                    std::minstd_rand rng(seed);
                    for (std::size_t i = 0; i < notes; ++i) {
                        {
                            std::lock_guard g(m);
                            ++tokens;
                        }
                        cv.notify_one();
                        yield_n(static_cast<unsigned>(rng() % 2));
                    }
                });
            auto aborter = spawn_aborter(hs, marked, static_cast<unsigned>(rng()));
            notifier.join();
            aborter.join();
            // Every token is taken: at least `notes` waiters are not aborted, and a notification
            // that reached an aborted waiter went on to another.
            auto left = [&] {
                std::lock_guard g(m);
                return tokens;
            };
            std::size_t spins = 0;
            while (left() > 0 && spins++ < 20000) weft::yield_now();
            if (left() > 0) {
                weft::sleep_for(100ms);
                if (left() > 0) ++tokens_left;
            }
            {
                std::lock_guard g(m);
                done = true;
            }
            cv.notify_all();
            for (std::size_t i = 0; i < hs.size(); ++i) t.add(join_bounded(hs[i], 10s), marked[i]);
            ++t.rounds;
            t.waiters += hs.size();
            t.aborted += a;
        }
    });
    check_race(t);
    CHECK(tokens_left == 0);
    report_race("condition_variable", t);
}

TEST_CASE("race: mpsc senders aborted while the receiver drains", "[stress][race]") {
    auto rt = weft::test::make_runtime();
    race_totals t;
    std::uint64_t mismatched = 0;
    rt.block_on([&] {
        std::minstd_rand rng(5);
        std::uint64_t next = 1;
        for (std::size_t r = 0; r < rounds(); ++r) {
            auto [tx, rx] = weft::mpsc::channel<std::uint64_t>(1);
            tx.send(next++);  // full: every sender parks
            std::atomic<std::uint64_t> sent_n{1}, sent_sum{next - 1};
            std::vector<weft::join_handle<void>> hs;
            for (std::size_t i = 0; i < waiters_per_round; ++i) {
                std::uint64_t v = next++;
                hs.push_back(weft::spawn([&, v, tx = tx] {
                    tx.send(v);
                    sent_n += 1;  // no cancellation point between send returning and here
                    sent_sum += v;
                }));
            }
            yield_n(static_cast<unsigned>(rng() % 4));
            auto marked = pick(rng, hs.size());
            std::uint64_t recv_n = 0, recv_sum = 0;
            auto receiver = weft::spawn([&] {
                // Takes values while the aborts land, each freeing a slot for a parked sender.
                // At least 1 + (unaborted senders) values arrive; take no more than that.
                std::size_t take = std::min<std::size_t>(
                    waiters_per_round / 2,
                    1 + waiters_per_round -
                        static_cast<std::size_t>(std::count(marked.begin(), marked.end(), 1)));
                for (std::size_t i = 0; i < take; ++i) {
                    auto v = rx.recv();
                    if (!v) break;
                    recv_n += 1;
                    recv_sum += *v;
                }
            });
            auto aborter = spawn_aborter(hs, marked, static_cast<unsigned>(rng()));
            aborter.join();
            receiver.join();
            // Unaborted senders must all complete once there is room: keep draining until
            // every one has ended (bounded).
            auto ends = std::vector<std::optional<ending>>(hs.size());
            auto deadline = weft::time::now() + 10s;
            for (;;) {
                while (auto v = rx.try_recv()) {
                    recv_n += 1;
                    recv_sum += *v;
                }
                bool all = true;
                for (auto& h : hs) all = all && h.is_finished();
                if (all || weft::time::now() > deadline) break;
                weft::yield_now();
            }
            for (std::size_t i = 0; i < hs.size(); ++i)
                t.add(join_bounded(hs[i], 1000ms), marked[i]);
            while (auto v = rx.try_recv()) {
                recv_n += 1;
                recv_sum += *v;
            }
            // sent == received: nothing lost, nothing duplicated.
            if (recv_n != sent_n.load() || recv_sum != sent_sum.load()) ++mismatched;
            ++t.rounds;
            t.waiters += hs.size();
            for (char x : marked) t.aborted += static_cast<std::uint64_t>(x);
        }
    });
    check_race(t);
    CHECK(mismatched == 0);
    report_race("mpsc send", t);
}

TEST_CASE("race: mpsc receiver aborted while a value is sent to it", "[stress][race]") {
    auto rt = weft::test::make_runtime();
    const std::size_t n = weft::stress::size(20000, 50);
    std::uint64_t lost = 0, both = 0, got_by_task = 0, left_buffered = 0, cancelled = 0;
    rt.block_on([&] {
        std::minstd_rand rng(6);
        auto [tx, rx] = weft::mpsc::channel<std::uint64_t>(4);
        for (std::size_t i = 0; i < n; ++i) {
            std::optional<std::uint64_t> got;
            auto h = weft::spawn([&] { got = rx.recv(); });
            yield_n(static_cast<unsigned>(rng() % 3));
            auto sender = weft::spawn([&tx, i, seed = static_cast<unsigned>(rng())] {
                std::minstd_rand rng(seed);
                yield_n(static_cast<unsigned>(rng() % 2));
                tx.send(i);
            });
            yield_n(static_cast<unsigned>(rng() % 3));
            h.abort();
            bool was_cancelled = false;
            try {
                h.join();
            } catch (const weft::join_error& e) {
                was_cancelled = e.is_cancelled();
            }
            sender.join();
            auto rest = rx.try_recv();
            // The value went to exactly one place: the aborted receiver (if it returned) or the
            // buffer.
            if (got && rest) ++both;
            if (!got && !rest) ++lost;
            if (got) ++got_by_task;
            if (rest) ++left_buffered;
            if (was_cancelled) ++cancelled;
        }
    });
    CHECK(lost == 0);
    CHECK(both == 0);
    CHECK(got_by_task + left_buffered == n);
    CHECK(cancelled > 0);
    weft::stress::report("race mpsc recv: {} rounds, {} values left buffered by a cancelled "
                         "recv, {} taken by a recv that returned before the abort",
                         n, left_buffered, got_by_task);
}

TEST_CASE("race: broadcast receivers aborted while values are sent", "[stress][race]") {
    auto rt = weft::test::make_runtime();
    race_totals t;
    std::uint64_t short_receivers = 0;
    rt.block_on([&] {
        std::minstd_rand rng(7);
        for (std::size_t r = 0; r < rounds(); ++r) {
            auto [tx, rx0] = weft::broadcast::channel<std::uint64_t>(values);
            std::vector<weft::join_handle<void>> hs;
            std::vector<std::uint64_t> sums(waiters_per_round, 0);
            for (std::size_t i = 0; i < waiters_per_round; ++i) {
                hs.push_back(weft::spawn([&sums, i, rx = tx.subscribe()]() mutable {
                    for (std::uint64_t k = 0; k < values; ++k) sums[i] += rx.recv();
                }));
            }
            { auto drop = std::move(rx0); }
            yield_n(static_cast<unsigned>(rng() % 4));
            auto marked = pick(rng, hs.size());
            auto sender = weft::spawn([&tx, seed = static_cast<unsigned>(rng())] {
                std::minstd_rand rng(seed);
                for (std::uint64_t k = 1; k <= values; ++k) {
                    tx.send(k);
                    yield_n(static_cast<unsigned>(rng() % 2));
                }
            });
            auto aborter = spawn_aborter(hs, marked, static_cast<unsigned>(rng()));
            sender.join();
            aborter.join();
            for (std::size_t i = 0; i < hs.size(); ++i) {
                ending e = join_bounded(hs[i], 10s);
                t.add(e, marked[i]);
                if (e == ending::finished && sums[i] != values * (values + 1) / 2)
                    ++short_receivers;
            }
            ++t.rounds;
            t.waiters += hs.size();
            for (char x : marked) t.aborted += static_cast<std::uint64_t>(x);
        }
    });
    check_race(t);
    CHECK(short_receivers == 0);
    report_race("broadcast", t);
}

TEST_CASE("race: select socket branches cancelled over and over by a ready receive",
          "[stress][race]") {
    // Per connection: a loop of selects between a read_line (under a far deadline, as a
    // server's idle timeout) and a receive from a channel of one slot that a producer fills, while
    // the client writes lines now and then. Most rounds the receive wins and the read branch, often
    // already parked in its socket wait, is aborted; some rounds a line wins. Everything sent
    // either way must be received exactly once and in order.
    const std::size_t connections = 4;
    const std::size_t values = weft::stress::size(50'000, 500);
    const std::size_t lines = weft::stress::size(2'000, 20);
    auto rt = weft::test::make_runtime();
    struct tally {
        std::size_t values = 0, lines = 0, out_of_order = 0;
    };
    std::vector<tally> got(connections);
    rt.block_on([&] {
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        const std::string addr = "127.0.0.1:" + std::to_string(listener.local_addr().port());
        std::vector<weft::join_handle<void>> hs;
        for (std::size_t c = 0; c < connections; ++c) {
            auto client = weft::net::tcp_stream::connect(addr);
            auto server = listener.accept();
            hs.push_back(weft::spawn([&, c, client = std::move(client)]() mutable {
                std::minstd_rand rng(static_cast<unsigned>(c) + 11);
                for (std::size_t j = 0; j < lines; ++j) {
                    yield_n(static_cast<unsigned>(rng() % 256));
                    const std::string line = std::to_string(j) + "\n";
                    client.write_all(boost::asio::buffer(line));
                }
                // The client stays open (silent) until the server side has read everything and
                // closed its end.
                char byte = 0;
                while (client.read_some(boost::asio::buffer(&byte, 1)) > 0) {}
            }));
            hs.push_back(weft::spawn([&, c, server = std::move(server)]() mutable {
                auto [tx, rx] = weft::mpsc::channel<std::size_t>(1);
                // The producer pauses between values, so that the receive often waits and the
                // read branch gets to park in its socket wait before the value comes.
                auto producer = weft::spawn([&values, c, tx = std::move(tx)] {
                    std::minstd_rand rng(static_cast<unsigned>(c) + 101);
                    for (std::size_t i = 0; i < values; ++i) {
                        tx.send(i);
                        yield_n(static_cast<unsigned>(rng() % 4));
                    }
                });
                tally& t = got[c];
                bool open = true;
                std::string line;
                while (open || t.lines < lines) {
                    // The read branch stays in every select, also once every line is in:
                    // then it waits on a silent socket and is cancelled every round.
                    auto r = weft::select(
                        [&] {
                            return weft::timeout_at(weft::time::now() + 60s, [&] {
                                line.clear();
                                return server.read_line(line);
                            });
                        },
                        weft::when(open, [&] { return rx.recv(); }));
                    if (r.index() == 0) {
                        if (line != std::to_string(t.lines) + "\n") ++t.out_of_order;
                        ++t.lines;
                    } else if (auto v = std::get<1>(r)) {
                        if (*v != t.values) ++t.out_of_order;
                        ++t.values;
                    } else {
                        open = false;
                    }
                }
                producer.join();
            }));
        }
        for (auto& h : hs) h.join();
    });
    std::size_t all_values = 0, all_lines = 0;
    for (const tally& t : got) {
        CHECK(t.values == values);
        CHECK(t.lines == lines);
        CHECK(t.out_of_order == 0);
        all_values += t.values;
        all_lines += t.lines;
    }
    weft::stress::report("race select socket branch: {} connections, {} values and {} lines "
                         "received through {} selects",
                         connections, all_values, all_lines, all_values + all_lines);
}
