// weft_bench: the peers' workloads (bench/peers/README.md) on a weft runtime with
// 2 workers and otherwise the runtime's defaults, plus the scaling rows of docs/notes/bench.md.
//
// Usage: weft_bench [--repeat N] [--shuffle SEED] [workload[,workload...]]
//   no workload: every peer workload, in the peers' order (idle_memory first, so the
//   allocator caches of earlier rows cannot hide its RSS growth);
//   a list: those rows, still in the fixed order (peer rows first, then scaling rows);
//   --repeat N: the peer and scaling rows N times over in this one process (a line per row
//   per round), so a row's cost after the other rows ran shows beside its cost before them:
//   a service runs in that "after other work" state (issue #18's bimodal rows);
//   --shuffle SEED: each round runs the rows in an order drawn from SEED (idle_memory stays
//   first in the first round, for the reason above); the order goes to stderr.
// Scaling rows (run only when named): spawn_many_10k / _100k / _1m, tcp_echo_10 / _100 /
// _1000 (connections; 100,000 round trips in all), idle_memory_10k / _100k.
// File rows (run only when named; scripts/bench --files makes their data set):
// files_small, files_random, files_seq, each run by the programs in WEFT_FILES_RUN (default
// "weft,weft_pool,sync": weft's io_uring and thread-pool backends on a runtime of their own,
// and a plain synchronous loop); see support/files.hpp.
// A known row whose source is not compiled in yet prints a "skipped" line, as the
// Boost.Fiber peer does for tcp_echo; an unknown name is an error (exit 2).
#include "support/bench.hpp"
#include "support/files.hpp"

#include <weft/runtime.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view peer_rows[] = {
    "idle_memory",   "spawn_many",    "spawn_remote", "yield_many", "ping_pong",
    "ping_pong_100", "chained_spawn", "mpsc",         "mutex",      "skynet",
    "timers",        "tcp_echo",      "select",       "select_ops", "fan_out",
};

constexpr std::string_view scaling_rows[] = {
    "spawn_many_10k", "spawn_many_100k", "spawn_many_1m",   "tcp_echo_10",
    "tcp_echo_100",   "tcp_echo_1000",   "idle_memory_10k", "idle_memory_100k",
};

constexpr std::string_view file_rows[] = {"files_small", "files_random", "files_seq"};
constexpr std::string_view file_programs[] = {"weft", "weft_pool", "sync"};

bool is_file_row(std::string_view name) {
    return std::ranges::find(file_rows, name) != std::end(file_rows);
}

bool is_file_row_str(const std::string& name) { return is_file_row(name); }

bool is_known(std::string_view name) {
    return std::ranges::find(peer_rows, name) != std::end(peer_rows) ||
           std::ranges::find(scaling_rows, name) != std::end(scaling_rows) || is_file_row(name);
}

// Calls `f` for each comma-separated, non-empty item of `list`.
template <class F>
void for_each_item(std::string_view list, F f) {
    while (!list.empty()) {
        auto comma = list.find(',');
        auto tok = list.substr(0, comma);
        if (!tok.empty()) f(tok);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
}

// Runs one row; an exception escaping it ends the process, as a failed check does.
template <class F>
void guarded(std::string_view name, F f) {
    try {
        f();
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "weft_bench: %.*s failed: %s\n", static_cast<int>(name.size()),
                     name.data(), e.what());
        std::_Exit(2);
    } catch (...) {
        std::fflush(stdout);
        std::fprintf(stderr, "weft_bench: %.*s failed with a non-std exception\n",
                     static_cast<int>(name.size()), name.data());
        std::_Exit(2);
    }
}

void usage(std::FILE* to) {
    std::fputs(
        "usage: weft_bench [--repeat N] [--shuffle SEED] [workload[,workload...]]\nworkloads:", to);
    for (auto n : peer_rows) std::fprintf(to, " %.*s", static_cast<int>(n.size()), n.data());
    std::fputs("\nscaling rows:", to);
    for (auto n : scaling_rows) std::fprintf(to, " %.*s", static_cast<int>(n.size()), n.data());
    std::fputs("\nfile rows (WEFT_FILES_RUN: weft,weft_pool,sync):", to);
    for (auto n : file_rows) std::fprintf(to, " %.*s", static_cast<int>(n.size()), n.data());
    std::fputs("\n", to);
}

void print_counters(std::string_view name, const weft::runtime_metrics& a,
                    const weft::runtime_metrics& b) {
    std::fprintf(stderr, "{\"workload\":\"%.*s\",\"spawned\":%llu", static_cast<int>(name.size()),
                 name.data(), static_cast<unsigned long long>(b.spawned_tasks - a.spawned_tasks));
    for (std::size_t i = 0; i < b.per_worker.size() && i < a.per_worker.size(); ++i) {
        const auto& x = a.per_worker[i];
        const auto& y = b.per_worker[i];
        std::fprintf(stderr,
                     ",\"w%zu\":{\"polls\":%llu,\"steals\":%llu,\"steal_ops\":%llu,"
                     "\"parks\":%llu,\"overflows\":%llu}",
                     i, static_cast<unsigned long long>(y.polls - x.polls),
                     static_cast<unsigned long long>(y.steals - x.steals),
                     static_cast<unsigned long long>(y.steal_operations - x.steal_operations),
                     static_cast<unsigned long long>(y.parks - x.parks),
                     static_cast<unsigned long long>(y.overflows - x.overflows));
        if (b.latency_histograms) {
            // Over the workload only: the difference of the two snapshots, bucket by bucket.
            auto over = [](const weft::latency_histogram& before,
                           const weft::latency_histogram& after) {
                weft::latency_histogram d;
                for (std::size_t k = 0; k < weft::latency_histogram::buckets; ++k) {
                    d.counts[k] = after.counts[k] - before.counts[k];
                    d.count += d.counts[k];
                }
                return d;
            };
            const auto sched = over(x.schedule_latency, y.schedule_latency);
            const auto run = over(x.run_time, y.run_time);
            std::fprintf(stderr,
                         ",\"w%zu_latency\":{\"sched_p50_ns\":%lld,\"sched_p99_ns\":%lld,"
                         "\"run_p99_ns\":%lld}",
                         i, static_cast<long long>(sched.quantile_bound(0.5).count()),
                         static_cast<long long>(sched.quantile_bound(0.99).count()),
                         static_cast<long long>(run.quantile_bound(0.99).count()));
        }
    }
    std::fputs("}\n", stderr);
}

// A whole decimal number in [1, max]; nullopt for anything else.
std::optional<std::uint64_t> parse_count(std::string_view s, std::uint64_t max) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v < 1 || v > max) return std::nullopt;
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace weft_bench;
    std::set<std::string, std::less<>> wanted;
    std::uint64_t repeat = 1;
    std::optional<std::uint64_t> shuffle_seed;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    // Options first, then at most one workload list.
    while (!args.empty() && args.front().starts_with("--") && args.front() != "--help") {
        std::string_view opt = args.front();
        if (opt != "--repeat" && opt != "--shuffle") {
            std::fprintf(stderr, "weft_bench: unknown option '%.*s'\n",
                         static_cast<int>(opt.size()), opt.data());
            usage(stderr);
            return 2;
        }
        if (args.size() < 2) {
            std::fprintf(stderr, "weft_bench: %.*s needs a value\n", static_cast<int>(opt.size()),
                         opt.data());
            return 2;
        }
        auto v = parse_count(args[1], opt == "--repeat" ? 1000 : UINT64_MAX);
        if (!v) {
            std::fprintf(stderr, "weft_bench: %.*s wants a whole number%s, not '%.*s'\n",
                         static_cast<int>(opt.size()), opt.data(),
                         opt == "--repeat" ? " from 1 to 1000" : " from 1",
                         static_cast<int>(args[1].size()), args[1].data());
            return 2;
        }
        (opt == "--repeat" ? repeat : shuffle_seed.emplace()) = *v;
        args.erase(args.begin(), args.begin() + 2);
    }
    if (args.size() > 1) {
        usage(stderr);
        return 2;
    }
    if (args.size() == 1) {
        std::string_view arg = args[0];
        if (arg == "-h" || arg == "--help") {
            usage(stdout);
            return 0;
        }
        bool bad = false;
        for_each_item(arg, [&](std::string_view tok) {
            if (!is_known(tok)) {
                std::fprintf(stderr, "weft_bench: unknown workload '%.*s'\n",
                             static_cast<int>(tok.size()), tok.data());
                bad = true;
            }
            wanted.emplace(tok);
        });
        if (bad) {
            usage(stderr);
            return 2;
        }
    } else {
        for (auto n : peer_rows) wanted.emplace(n);
    }

    std::vector<std::string_view> programs;
    const char* run_env = std::getenv("WEFT_FILES_RUN");
    const bool file_rows_wanted = std::ranges::any_of(wanted, is_file_row_str);
    std::string_view run_list = run_env == nullptr ? "weft,weft_pool,sync" : run_env;
    for_each_item(file_rows_wanted ? run_list : std::string_view{}, [&](std::string_view p) {
        auto it = std::ranges::find(file_programs, p);
        if (it == std::end(file_programs)) {
            std::fprintf(stderr, "weft_bench: WEFT_FILES_RUN: unknown program '%.*s'\n",
                         static_cast<int>(p.size()), p.data());
            std::exit(2);
        }
        programs.push_back(*it);
    });

    // Timing starts inside each workload, after this: runtime construction is not counted. The
    // file rows build their own runtimes, and this one would only idle beside them.
    std::optional<weft::runtime> rt;
    if (!std::ranges::all_of(wanted, is_file_row_str)) {
        // WEFT_BENCH_HISTOGRAMS=1: the workers keep latency histograms (their cost is what
        // docs/performance.md measures with it); printed on stderr after each workload when
        // WEFT_BENCH_METRICS is set too.
        const bool histograms = std::getenv("WEFT_BENCH_HISTOGRAMS") != nullptr;
        rt.emplace(
            weft::builder::multi_thread().worker_threads(2).latency_histograms(histograms).build());
    }

    auto run = [&](std::string_view name) {
        if (!wanted.contains(name)) return;
        workload_fn fn = find_workload(name);
        if (fn == nullptr) {
            emit_skipped(name, "not built yet: its weft primitives are not in the tree");
            return;
        }
        // WEFT_BENCH_METRICS=1: the scheduler's counters over the workload, on stderr (how
        // often tasks moved, workers parked), to explain a row whose time changed.
        const bool counters = std::getenv("WEFT_BENCH_METRICS") != nullptr;
        weft::runtime_metrics before;
        if (counters) before = rt->metrics();
        guarded(name, [&] {
            fn(*rt);
            if (counters) print_counters(name, before, rt->metrics());
        });
    };
    auto run_files = [&](std::string_view name) {
        if (!wanted.contains(name)) return;
        const files::data_set set = files::from_env();
        for (auto program : programs) {
            files::row_fn fn = files::find_row(name, program);
            if (fn == nullptr) {
                emit_skipped_as(program, name, "not built yet: its weft API is not in the tree");
                continue;
            }
            guarded(name, [&] { fn(set); });
        }
    };
    std::vector<std::string_view> order(std::begin(peer_rows), std::end(peer_rows));
    order.insert(order.end(), std::begin(scaling_rows), std::end(scaling_rows));
    std::uint64_t rng = shuffle_seed.value_or(0) * 0x9e3779b97f4a7c15ULL + 1;
    for (std::uint64_t round = 0; round < repeat; ++round) {
        if (shuffle_seed) {
            // Fisher-Yates from a splitmix64 stream: the same SEED gives the same orders.
            auto next = [&rng] {
                std::uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                return z ^ (z >> 31);
            };
            const std::size_t first = round == 0 ? 1 : 0;  // idle_memory leads the first round
            for (std::size_t i = order.size() - 1; i > first; --i) {
                std::size_t j = first + next() % (i - first + 1);
                std::swap(order[i], order[j]);
            }
            std::fprintf(stderr, "weft_bench: round %llu order:",
                         static_cast<unsigned long long>(round + 1));
            for (auto n : order) {
                if (wanted.contains(n))
                    std::fprintf(stderr, " %.*s", static_cast<int>(n.size()), n.data());
            }
            std::fputc('\n', stderr);
        }
        for (auto n : order) run(n);
    }
    for (auto n : file_rows) run_files(n);
    return 0;
}
