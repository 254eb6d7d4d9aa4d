// Shutdown under load: the runtime is destroyed (its scope left) while tasks spawn tasks, send
// on channels, hold mutexes and semaphore permits, sleep, wait on each other and do loopback
// I/O. The destructor must return in bounded time, every RAII guard must have run once the
// runtime is gone (lifetime_counter back to zero), and under ASan LeakSanitizer must find
// nothing at exit (the ASan build runs with detect_leaks on by default).
#include "stress/stress_support.hpp"

#include <weft/channel.hpp>
#include <weft/net.hpp>
#include <weft/sync.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/buffer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using weft::test::lifetime_counter;
namespace asio = boost::asio;

namespace {

// Everything a busy service does at once; each piece holds lifetime_counter guards on its
// stack, in its captures and in the messages it sends.
struct load_state {
    weft::mutex mu;
    weft::semaphore sem{3};
    weft::notify bell;
    std::atomic<std::uint64_t> spawned{0}, sent{0}, locked{0}, io_rounds{0}, sleeps{0};
};

struct spawner {
    std::shared_ptr<load_state> st;
    lifetime_counter guard;
    int depth;
    void operator()() const {
        lifetime_counter local;
        st->spawned.fetch_add(1, std::memory_order_relaxed);
        weft::yield_now();
        // A chain that never ends, branching while the tree is small (bounded growth).
        weft::spawn(spawner{st, {}, depth + 1});
        if (st->spawned.load(std::memory_order_relaxed) < 2000)
            weft::spawn(spawner{st, {}, depth + 1});
        weft::sleep_for(std::chrono::microseconds(50 * (depth % 20)));
    }
};

void start_load(const std::shared_ptr<load_state>& st, std::size_t width) {
    // Spawners: a tree that keeps growing until shutdown stops it.
    weft::spawn(spawner{st, {}, 0});

    // Channel pipelines whose messages carry guards: producers block on a small buffer.
    for (std::size_t p = 0; p < width; ++p) {
        auto [tx, rx] = weft::mpsc::channel<std::unique_ptr<lifetime_counter>>(2);
        for (int k = 0; k < 3; ++k) {
            weft::spawn([st, tx = tx] {
                lifetime_counter g;
                try {
                    for (;;) {
                        tx.send(std::make_unique<lifetime_counter>());
                        st->sent.fetch_add(1, std::memory_order_relaxed);
                    }
                } catch (const weft::channel_closed&) {
                    // the receiver was cancelled first
                }
            });
        }
        weft::spawn([st, rx = std::move(rx)]() mutable {
            lifetime_counter g;
            std::vector<std::unique_ptr<lifetime_counter>> keep;  // held while it sleeps
            while (auto v = rx.recv()) {
                keep.push_back(std::move(*v));
                if (keep.size() == 8) {
                    weft::sleep_for(1ms);
                    keep.clear();
                }
            }
        });
    }

    // Mutex and semaphore holders that sleep with the lock or permit held, and waiters.
    for (std::size_t i = 0; i < width * 4; ++i) {
        weft::spawn([st] {
            lifetime_counter g;
            for (;;) {
                std::lock_guard lk(st->mu);
                auto p = st->sem.acquire();
                st->locked.fetch_add(1, std::memory_order_relaxed);
                weft::sleep_for(200us);
            }
        });
        weft::spawn([st] {
            lifetime_counter g;
            for (;;) {
                auto p = st->sem.acquire();
                weft::sleep_for(100us);
            }
        });
    }

    // Sleepers, and tasks joined on them, and notify waiters.
    for (std::size_t i = 0; i < width * 8; ++i) {
        auto h = weft::spawn([st, i] {
            lifetime_counter g;
            for (;;) {
                weft::sleep_for(std::chrono::microseconds(10 + i % 100));
                st->sleeps.fetch_add(1, std::memory_order_relaxed);
            }
        });
        weft::spawn([h = std::move(h)]() mutable {
            lifetime_counter g;
            try {
                h.join();
            } catch (const weft::join_error&) {
                // the sleeper was cancelled first
            }
        });
        weft::spawn([st] {
            lifetime_counter g;
            st->bell.notified();
        });
    }

    // Loopback echo: a listener task, a connection task per client, clients that keep
    // exchanging lines, and some clients that stay silent (their server side parks in read).
    auto listener =
        std::make_shared<weft::net::tcp_listener>(weft::net::tcp_listener::bind("127.0.0.1:0"));
    auto ep = listener->local_addr();
    weft::spawn([st, listener] {
        lifetime_counter g;
        for (;;) {
            auto s = listener->accept();
            weft::spawn([s = std::move(s)]() mutable {
                lifetime_counter g2;
                std::string line;
                while (s.read_line(line) > 0) {
                    s.write_all(asio::buffer(line));
                    line.clear();
                }
            });
        }
    });
    for (std::size_t c = 0; c < width; ++c) {
        weft::spawn([st, ep, c] {
            lifetime_counter g;
            auto s = weft::net::tcp_stream::connect(ep);
            if (c % 4 == 3) {
                char b;
                (void)s.read_some(asio::buffer(&b, 1));  // silent: both sides park
                return;
            }
            std::string msg = "ping " + std::to_string(c) + "\n";
            std::string back;
            for (;;) {
                s.write_all(asio::buffer(msg));
                back.clear();
                if (s.read_line(back) == 0) return;
                st->io_rounds.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
}

}  // namespace

TEST_CASE("shutdown under load: destroying the runtime unwinds every task and guard",
          "[stress][shutdown]") {
    const std::size_t rounds = weft::stress::size(20, 2);
    const std::size_t width = weft::stress::size(64, 4);
    lifetime_counter::alive = 0;
    long long worst_ms = 0;
    std::uint64_t spawned = 0, sent = 0, locked = 0, io = 0, sleeps = 0;
    std::size_t alive_at_shutdown = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
        auto st = std::make_shared<load_state>();
        std::chrono::steady_clock::time_point t0;
        {
            auto rt = weft::test::make_runtime();
            rt.block_on([&] { start_load(st, width); });
            // Let it run until every kind of work has happened at least once.
            weft::stress::wait_until(
                [&] {
                    return st->sent.load() > 0 && st->locked.load() > 0 &&
                           st->io_rounds.load() > 0 && st->sleeps.load() > 0 &&
                           st->spawned.load() > 100;
                },
                10s);
            std::this_thread::sleep_for(std::chrono::milliseconds(10 + 7 * (r % 5)));
            alive_at_shutdown = std::max(alive_at_shutdown, rt.metrics().alive_tasks);
            t0 = std::chrono::steady_clock::now();
        }  // ~runtime: cancel everything, unwind, join threads
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        worst_ms = std::max(worst_ms, static_cast<long long>(ms));
        INFO("round " << r);
        CHECK(lifetime_counter::alive.load() == 0);
        CHECK(st.use_count() == 1);  // no task, capture or message still holds the state
        spawned += st->spawned.load();
        sent += st->sent.load();
        locked += st->locked.load();
        io += st->io_rounds.load();
        sleeps += st->sleeps.load();
    }
    CHECK(worst_ms < 10'000);
    CHECK(sent > 0);
    CHECK(io > 0);
    weft::stress::report("shutdown under load: {} rounds of width {} (up to {} live tasks at "
                         "shutdown; {} spawned, {} sent, {} locks, {} echo round trips in all), "
                         "slowest shutdown {} ms, every guard released",
                         rounds, width, alive_at_shutdown, spawned, sent, locked, io, worst_ms);
}

TEST_CASE("shutdown under load on a current_thread runtime", "[stress][shutdown]") {
    const std::size_t rounds = weft::stress::size(20, 2);
    const std::size_t width = weft::stress::size(32, 2);
    lifetime_counter::alive = 0;
    long long worst_ms = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
        auto st = std::make_shared<load_state>();
        std::chrono::steady_clock::time_point t0;
        {
            auto rt = weft::builder::current_thread().build();
            rt.block_on([&] {
                start_load(st, width);
                // The load runs only while block_on does, on this thread.
                auto until = weft::time::now() + 5s;
                while (
                    weft::time::now() < until &&
                    (st->sent.load() == 0 || st->io_rounds.load() == 0 || st->locked.load() == 0)) {
                    weft::sleep_for(1ms);
                }
                weft::sleep_for(std::chrono::milliseconds(5 + r % 5));
            });
            t0 = std::chrono::steady_clock::now();
        }
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        worst_ms = std::max(worst_ms, static_cast<long long>(ms));
        INFO("round " << r);
        CHECK(lifetime_counter::alive.load() == 0);
        CHECK(st.use_count() == 1);
        CHECK(st->sent.load() > 0);
    }
    CHECK(worst_ms < 10'000);
    weft::stress::report("shutdown under load (current_thread): {} rounds of width {}, slowest "
                         "shutdown {} ms, every guard released",
                         rounds, width, worst_ms);
}
