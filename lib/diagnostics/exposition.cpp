// format_prometheus and format_dump_json (see <weft/diagnostics/exposition.hpp>).
#include "task_state_name.hpp"

#include <weft/diagnostics/exposition.hpp>

#include <fmt/core.h>

#include <chrono>
#include <cstdint>
#include <iterator>

namespace weft {
namespace {

struct family {
    const char* name;
    const char* type;  // "gauge", "counter" or "histogram"
    const char* help;
};

void header(std::string& out, const family& f) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name,
                   f.type);
}

template <class V>
void scalar(std::string& out, const family& f, V value) {
    header(out, f);
    fmt::format_to(std::back_inserter(out), "{} {}\n", f.name, value);
}

// One family with a sample per worker; `get` reads the value from a worker_metrics.
template <class Get>
void per_worker(std::string& out, const runtime_metrics& m, const family& f, Get get) {
    header(out, f);
    for (std::size_t i = 0; i < m.per_worker.size(); ++i) {
        fmt::format_to(std::back_inserter(out), "{}{{worker=\"{}\"}} {}\n", f.name, i,
                       get(m.per_worker[i]));
    }
}

// Seconds with nanosecond resolution, in fixed notation: every Prometheus parser reads it, no
// precision is lost to a shortest-form float, and a bucket bound (a power of two in ns) prints
// exactly.
std::string seconds(std::chrono::nanoseconds d) {
    auto ns = static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count());
    return fmt::format("{}.{:09}", ns / 1'000'000'000U, ns % 1'000'000'000U);
}

// A histogram family with one histogram per worker (cumulative `le` buckets, _sum, _count).
template <class Get>
void per_worker_histogram(std::string& out, const runtime_metrics& m, const family& f, Get get) {
    header(out, f);
    auto to = std::back_inserter(out);
    for (std::size_t i = 0; i < m.per_worker.size(); ++i) {
        const latency_histogram& h = get(m.per_worker[i]);
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b < latency_histogram::buckets; ++b) {
            cumulative += h.counts[b];
            if (b + 1 < latency_histogram::buckets) {
                fmt::format_to(to, "{}_bucket{{worker=\"{}\",le=\"{}\"}} {}\n", f.name, i,
                               seconds(latency_histogram::upper_bound(b)), cumulative);
            } else {
                fmt::format_to(to, "{}_bucket{{worker=\"{}\",le=\"+Inf\"}} {}\n", f.name, i,
                               cumulative);
            }
        }
        // _count is the +Inf bucket by definition: the runtime's h.count is the same sum, and
        // a histogram built by hand with another count still exports a consistent family.
        fmt::format_to(to, "{}_sum{{worker=\"{}\"}} {}\n{}_count{{worker=\"{}\"}} {}\n", f.name, i,
                       seconds(h.sum), f.name, i, cumulative);
    }
}

// Length of the well-formed UTF-8 sequence at s[i] (1..4), or 0 if it is not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto cont = [&](std::size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
    unsigned char c = b(i);
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(i + 1) || !cont(i + 2)) return 0;
        if (c == 0xE0 && b(i + 1) < 0xA0) return 0;  // overlong
        if (c == 0xED && b(i + 1) > 0x9F) return 0;  // surrogate
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
        if (c == 0xF0 && b(i + 1) < 0x90) return 0;  // overlong
        if (c == 0xF4 && b(i + 1) > 0x8F) return 0;  // beyond U+10FFFF
        return 4;
    }
    return 0;
}

void json_string(std::string& out, std::string_view s) {
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        char c = s[i];
        switch (c) {
            case '"':
                out += "\\\"";
                ++i;
                continue;
            case '\\':
                out += "\\\\";
                ++i;
                continue;
            case '\n':
                out += "\\n";
                ++i;
                continue;
            case '\r':
                out += "\\r";
                ++i;
                continue;
            case '\t':
                out += "\\t";
                ++i;
                continue;
            default:
                break;
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(u));
            ++i;
        } else if (std::size_t n = utf8_sequence(s, i)) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\\ufffd";
            ++i;
        }
    }
    out += '"';
}

void json_location(std::string& out, const std::source_location& loc) {
    std::string s;
    if (loc.line() != 0 || *loc.file_name() != '\0')
        s = fmt::format("{}:{}", loc.file_name(), loc.line());
    json_string(out, s);
}

}  // namespace

std::string format_prometheus(const runtime_metrics& m) {
    std::string out;
    out.reserve(2048 + 1024 * m.per_worker.size());
    scalar(out, {"weft_workers", "gauge", "Worker threads of the runtime."}, m.workers);
    scalar(out, {"weft_alive_tasks", "gauge", "Tasks spawned and not yet finished."},
           m.alive_tasks);
    scalar(out, {"weft_spawned_tasks_total", "counter", "Tasks spawned since the runtime started."},
           m.spawned_tasks);
    scalar(out, {"weft_global_queue_depth", "gauge", "Tasks waiting in the global (inject) queue."},
           m.global_queue_depth);
    scalar(out, {"weft_blocking_threads", "gauge", "Threads of the blocking pool."},
           m.blocking_threads);
    scalar(out, {"weft_idle_blocking_threads", "gauge", "Idle threads of the blocking pool."},
           m.idle_blocking_threads);
    per_worker(out, m,
               {"weft_worker_polls_total", "counter", "Task resumptions run by the worker."},
               [](const worker_metrics& w) { return w.polls; });
    per_worker(
        out, m,
        {"weft_worker_steals_total", "counter", "Tasks the worker stole from other workers."},
        [](const worker_metrics& w) { return w.steals; });
    per_worker(out, m,
               {"weft_worker_steal_operations_total", "counter",
                "Successful steal attempts of the worker."},
               [](const worker_metrics& w) { return w.steal_operations; });
    per_worker(out, m, {"weft_worker_parks_total", "counter", "Times the worker went idle."},
               [](const worker_metrics& w) { return w.parks; });
    per_worker(out, m,
               {"weft_worker_wakeups_total", "counter",
                "Times the worker woke while idle, whether or not it found work."},
               [](const worker_metrics& w) { return w.wakeups; });
    per_worker(out, m,
               {"weft_worker_overflows_total", "counter",
                "Times the worker's local queue overflowed into the global queue."},
               [](const worker_metrics& w) { return w.overflows; });
    per_worker(out, m,
               {"weft_worker_local_queue_depth", "gauge", "Tasks in the worker's local queue."},
               [](const worker_metrics& w) { return w.local_queue_depth; });
    per_worker(out, m,
               {"weft_worker_busy_seconds_total", "counter", "Time the worker spent not parked."},
               [](const worker_metrics& w) { return seconds(w.busy); });
    if (m.latency_histograms) {
        per_worker_histogram(
            out, m,
            {"weft_worker_schedule_latency_seconds", "histogram",
             "Time from a task becoming runnable (spawned, woken, yielded) to "
             "running on the worker."},
            [](const worker_metrics& w) -> const latency_histogram& { return w.schedule_latency; });
        per_worker_histogram(
            out, m,
            {"weft_worker_run_time_seconds", "histogram",
             "How long each task resumption ran on the worker before it suspended, yielded or "
             "ended."},
            [](const worker_metrics& w) -> const latency_histogram& { return w.run_time; });
    }
    return out;
}

std::string format_dump_json(const std::vector<task_info>& tasks) {
    std::string out = "{\"tasks\":[";
    bool first = true;
    for (const task_info& t : tasks) {
        if (!first) out += ',';
        first = false;
        fmt::format_to(std::back_inserter(out), "{{\"id\":{},\"name\":", t.id);
        json_string(out, t.name);
        out += ",\"state\":";
        json_string(out, detail::task_state_name(t.state));
        if (t.cancelled) out += ",\"cancelled\":true";
        out += ",\"spawned_at\":";
        json_location(out, t.spawned_at);
        out += ",\"waiting_on\":";
        json_string(out, t.state == task_state::suspended ? t.waiting_on : std::string_view());
        out += ",\"suspended_at\":";
        json_location(out,
                      t.state == task_state::suspended ? t.suspended_at : std::source_location());
        if (!t.backtrace.empty()) {
            out += ",\"backtrace\":[";
            for (std::size_t i = 0; i < t.backtrace.size(); ++i) {
                if (i) out += ',';
                json_string(out, t.backtrace[i]);
            }
            out += ']';
        }
        out += '}';
    }
    out += "]}\n";
    return out;
}

}  // namespace weft
