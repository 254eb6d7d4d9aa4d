// mini_kv: a small Redis-compatible key-value server (RESP2: PING, ECHO, GET, SET with
// NX/XX/EX/PX/EXAT/PXAT, DEL, EXISTS, INCR), structured the way a Tokio service is: a
// listener task, one task per connection, state shared behind sharded weft::mutexes, an mpsc
// channel to a background writer task (the append-only log), an interval task for expiry, and
// a graceful stop on Ctrl-C. redis-cli and redis-benchmark work against it.
//
//   mini_kv [--listen 127.0.0.1:6380] [--aof FILE] [--shards N] [--workers N]
//           [--sched batch|normal] [--max-bulk BYTES] [--max-args N]
//
// The first line printed is "listening on ADDR" (port 0 picks a free port). --aof appends
// every write to FILE and replays FILE at startup. --workers sets the runtime's worker
// threads (default: one per core). --sched is the Linux scheduling policy of the runtime's
// threads (default batch: see run_policy below). The limits default to Redis's (512 MiB per
// argument, 1M arguments per request). Ctrl-C: stop accepting, end the connections, flush the
// log, exit 0. Try it:  redis-cli -p 6380 set greeting hello; redis-cli -p 6380 get greeting
#include "append_log.hpp"
#include "connection.hpp"
#include "resp.hpp"
#include "store.hpp"

#include <weft/weft.hpp>

#include <boost/system/system_error.hpp>

#include <sched.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct options {
    std::string listen = "127.0.0.1:6380";
    std::string aof;  // empty: no log
    std::size_t shards = 16;
    std::size_t workers = 0;  // 0: the runtime's default, one per core
    bool sched_batch = true;  // --sched batch (the default) or normal
    kv::resp::limits limits;
};

struct usage_error {
    std::string what;
};

std::size_t to_count(std::string_view flag, std::string_view v) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n == 0) {
        throw usage_error{std::string(flag) + " needs a positive whole number"};
    }
    return n;
}

options parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; i += 2) {
        std::string_view flag = argv[i];
        if (i + 1 == argc) throw usage_error{std::string(flag) + " needs a value"};
        std::string_view v = argv[i + 1];
        if (flag == "--listen") {
            o.listen = v;
        } else if (flag == "--aof") {
            o.aof = v;
        } else if (flag == "--shards") {
            o.shards = to_count(flag, v);
        } else if (flag == "--workers") {
            o.workers = to_count(flag, v);
        } else if (flag == "--sched") {
            if (v != "batch" && v != "normal") throw usage_error{"--sched is batch or normal"};
            o.sched_batch = v == "batch";
        } else if (flag == "--max-bulk") {
            o.limits.max_bulk = to_count(flag, v);
        } else if (flag == "--max-args") {
            o.limits.max_args = to_count(flag, v);
        } else {
            throw usage_error{"unknown argument '" + std::string(flag) + "'"};
        }
    }
    return o;
}

// [accept_loop]
/// Accepts clients until cancelled; then aborts and joins the connection tasks still running,
/// so none outlives `db`.
[[noreturn]] void accept_clients(weft::net::tcp_listener& listener, kv::store& db,
                                 const kv::resp::limits& limits) {
    std::vector<weft::join_handle<void>> connections;
    struct abort_on_exit {
        std::vector<weft::join_handle<void>>& tasks;
        ~abort_on_exit() {
            for (auto& t : tasks) t.abort();
            for (auto& t : tasks) {
                try {
                    t.join();
                } catch (const weft::join_error&) {
                    // aborted as asked
                }
            }
        }
    } guard{connections};
    for (;;) {
        weft::net::tcp_stream stream = listener.accept();
        std::erase_if(connections, [](const auto& t) { return t.is_finished(); });
        connections.push_back(weft::spawn([s = std::move(stream), &db, &limits]() mutable {
            try {
                kv::serve_connection(std::move(s), db, limits);
            } catch (const boost::system::system_error&) {
                // the client reset the connection: only this task ends
            }
        }));
    }
}
// [accept_loop]

// [expiry_task]
/// Keys set with an expiry and never read again would stay in memory for good with lazy
/// expiry alone: sweep a few expired keys per shard, ten times a second.
[[noreturn]] void expire_keys(kv::store& db) {
    weft::interval tick(100ms);
    tick.set_missed_tick_behavior(weft::missed_tick_behavior::skip);  // no catch-up bursts
    for (;;) {
        tick.tick();
        db.sweep_expired(64);
    }
}
// [expiry_task]

// [run]
void run(const options& opt) {
    kv::store db(opt.shards);
    std::optional<kv::append_log> log;
    if (!opt.aof.empty()) {
        std::size_t n = kv::replay(opt.aof, db, opt.limits);
        std::printf("mini_kv: replayed %zu commands from %s\n", n, opt.aof.c_str());
        log.emplace(opt.aof);
        db.attach_log(&*log);
    }
    auto listener = weft::net::tcp_listener::bind(opt.listen);
    const auto ep = listener.local_addr();
    std::printf("listening on %s:%u\n", ep.address().to_string().c_str(), ep.port());
    std::fflush(stdout);  // a script waiting for the port reads it now

    auto expiry = weft::spawn([&db] { expire_keys(db); });
    weft::select([&] { accept_clients(listener, db, opt.limits); }, [] { weft::signal::ctrl_c(); });
    // The connections are joined (accept_clients' guard); stop the sweeper, then flush the log.
    expiry.abort();
    try {
        expiry.join();
    } catch (const weft::join_error&) {}
    if (log) log->close();
}
// [run]

}  // namespace

/// Puts the calling thread under SCHED_BATCH. A Redis-like server often shares its cores with
/// busy threads of other programs (its clients on the same box; scripts/bench --kv runs
/// redis-benchmark beside it on 2 cores). Under the normal policy a worker woken for a few
/// replies preempts whatever runs on its core, the client included, and two workers that
/// each wake thousands of times a second cost the client more than they serve: mini_kv with 2
/// workers did 0.65-0.85 of its requests/s with 1 (docs/performance.md). A batch thread that
/// wakes runs when the running thread's slice ends or it blocks; on a core with nothing else
/// to run it runs at once, so a machine with cores to spare sees no difference. Set through
/// on_thread_start, so it covers the workers and the blocking pool, not the caller's thread.
// [run_policy]
void run_as_batch() {
    sched_param p{};
    if (::sched_setscheduler(0, SCHED_BATCH, &p) != 0) {
        static std::once_flag reported;
        const int err = errno;
        std::call_once(reported, [err] {
            std::fprintf(stderr, "mini_kv: SCHED_BATCH refused (%s); the normal policy stays\n",
                         std::strerror(err));
        });
    }
}
// [run_policy]

int main(int argc, char** argv) {
    options opt;
    try {
        opt = parse_options(argc, argv);
    } catch (const usage_error& e) {
        std::fprintf(stderr,
                     "mini_kv: %s\nusage: mini_kv [--listen ADDR] [--aof FILE] [--shards N] "
                     "[--workers N] [--sched batch|normal] [--max-bulk BYTES] [--max-args N]\n",
                     e.what.c_str());
        return 2;
    }
    try {
        // scripts/bench --kv measures the default (a worker per core, batch), one worker
        // like Redis's single event loop, and the normal policy.
        weft::builder b = weft::builder::multi_thread();
        if (opt.workers != 0) b.worker_threads(opt.workers);
        // [run_policy_hook]
        if (opt.sched_batch) b.on_thread_start(run_as_batch);
        // [run_policy_hook]
        weft::runtime rt = b.build();
        rt.block_on([&] { run(opt); });
        std::puts("mini_kv: stopped");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mini_kv: %s\n", e.what());
        return 1;
    }
}
