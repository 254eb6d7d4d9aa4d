// weft::console: an HTTP/1.1 endpoint made of ordinary weft tasks.
//
// Tasks. start() binds the listener in a short task of the served runtime (so its socket
// lives on one of that runtime's io_context shards, whatever thread called start), then
// spawns the listener task "weft::console", which accepts and spawns one task
// "weft::console connection" per client. Every read and write suspends only the task doing
// it, and each connection reads its request head under weft::timeout(read_timeout) and
// writes its response under weft::timeout(write_timeout): a slow, silent or malicious client
// costs one parked task and one descriptor, never a worker. max_connections bounds how many
// such tasks exist at once.
//
// State. The options and the scheduler pointer are immutable after start and shared
// (shared_ptr<const server_state>) by the listener and connection tasks, which run on the
// scheduler they point to, so it outlives every use. The listener task alone owns the
// join_handles of its connections (a plain vector: no lock, one owner); it drops the
// handles of finished connections before each spawn.
//
// Shutdown. console::stop() aborts the listener task and joins it. Its accept() throws
// task_cancelled; while unwinding, the listener (shielded, so its own joins are not cut
// short by the abort it is handling) aborts every connection task and joins them. A
// connection task is always parked on a cancellation point (a read, a write, or the drain
// after the response), so it unwinds at once. When stop() returns, no console task is left
// and the listening socket is closed. A runtime that shuts down first cancels the same tasks
// the same way; stop() then just joins a finished task.
//
// Each response closes the connection (no keep-alive): the page polls twice a second at
// most, so connection reuse would buy nothing and cost an idle-timeout state machine. Before
// closing, the connection shuts its sending side down and drains what the client still
// sends (bounded in time and bytes): closing a socket with unread input makes the kernel
// send RST, which can destroy the response before the client has read it.
#include "../runtime/handle_access.hpp"
#include "../scheduler/scheduler.hpp"
#include "http.hpp"
#include "page.hpp"

#include <weft/detail/task_header.hpp>
#include <weft/diagnostics/console.hpp>
#include <weft/diagnostics/exposition.hpp>
#include <weft/error.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/join_error.hpp>
#include <weft/task/offload.hpp>
#include <weft/task/this_task.hpp>
#include <weft/time/timeout.hpp>

#include <boost/system/system_error.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace weft {
namespace {
namespace asio = boost::asio;
namespace http = diagnostics;

constexpr std::string_view text_plain = "text/plain; charset=utf-8";
constexpr std::string_view listener_name = "weft::console";
constexpr std::string_view connection_name = "weft::console connection";
// How long and how much a closing connection drains of what its client still sends.
constexpr std::chrono::milliseconds drain_time{1000};
constexpr std::size_t drain_bytes = 64 * 1024;

struct server_state {
    console_options opts;
    detail::scheduler* sched = nullptr;  // the runtime served; outlives its own tasks
    bool loopback = false;               // listening on a loopback address
    std::source_location where;          // start()'s caller, the console tasks' spawn site
};

enum class head_result { complete, closed, too_large, timed_out };

// Reads until `reader` has a verdict on the request head (then in `status`: 0, or the error
// status to answer with). At most max_request_head bytes are read.
head_result read_head(net::tcp_stream& s, http::request_reader& reader, int& status,
                      const console_options& o) {
    try {
        return weft::timeout(o.read_timeout, [&] {
            char chunk[4096];
            for (;;) {
                if (reader.size() >= o.max_request_head) return head_result::too_large;
                std::size_t room = std::min(sizeof chunk, o.max_request_head - reader.size());
                std::size_t n = s.read_some(asio::buffer(chunk, room));
                if (n == 0) return head_result::closed;
                if (std::optional<int> v = reader.put(std::string_view(chunk, n))) {
                    status = *v;
                    return head_result::complete;
                }
            }
        });
    } catch (const elapsed&) {
        return head_result::timed_out;
    }
}

std::string error_response(int status, bool head_only = false, std::string_view extra = {},
                           std::string_view why = {}) {
    std::string body = fmt::format("{} {}\n{}", status, http::reason_phrase(status), why);
    return http::make_response(status, text_plain, body, head_only, extra);
}

// The `bt` parameter of a query string: nullopt when absent, else its value. Other
// parameters are ignored, as on every route.
std::optional<std::string_view> bt_parameter(std::string_view query) {
    while (!query.empty()) {
        std::string_view item = query.substr(0, query.find('&'));
        query.remove_prefix(std::min(query.size(), item.size() + 1));
        std::string_view key = item.substr(0, item.find('='));
        if (key != "bt") continue;
        return key.size() < item.size() ? item.substr(key.size() + 1) : std::string_view();
    }
    return std::nullopt;
}

// The dump for /tasks and /tasks.json; with backtraces (`?bt=1`) it is taken on the blocking
// pool: reading and symbolising many stacks (the first symbolisation loads the debug
// information) is no work for a worker.
std::vector<task_info> dump_for(const server_state& st, bool backtraces) {
    if (!backtraces) return st.sched->dump();
    detail::scheduler* sched = st.sched;
    return weft::offload([sched] { return sched->dump(true); });
}

// The response to a complete, well-formed request head.
std::string answer(const http::request_reader::request_type& req, const server_state& st) {
    const std::string_view method = req.method_string();
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const bool head_only = method == "HEAD";
    if (st.loopback && st.opts.check_host) {
        std::string_view host = req[boost::beast::http::field::host];
        if (!host.empty() && !http::is_loopback_host(host)) return error_response(403, head_only);
    }
    enum class route { page, metrics, tasks, tasks_json };
    route r;
    if (path == "/") {
        r = route::page;
    } else if (path == "/metrics") {
        r = route::metrics;
    } else if (path == "/tasks") {
        r = route::tasks;
    } else if (path == "/tasks.json") {
        r = route::tasks_json;
    } else {
        return error_response(404, head_only);
    }
    if (method != "GET" && !head_only) return error_response(405, false, "Allow: GET, HEAD\r\n");
    bool backtraces = false;
    if (r == route::tasks || r == route::tasks_json) {
        const std::size_t q = target.find('?');
        if (auto bt = bt_parameter(q == std::string_view::npos ? std::string_view()
                                                               : target.substr(q + 1))) {
            if (*bt != "0" && *bt != "1") {
                return error_response(400, head_only, {},
                                      "the bt parameter is 0 (no backtraces) or 1 (backtraces)\n");
            }
            backtraces = *bt == "1";
        }
    }

    switch (r) {
        case route::page:
            // The page is inline by design; the policy makes the browser enforce that it
            // stays so (no script, style or connection to anywhere but this console).
            return http::make_response(
                200, "text/html; charset=utf-8", diagnostics::console_page(), head_only,
                "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n");
        case route::metrics:
            return http::make_response(200, prometheus_content_type,
                                       format_prometheus(st.sched->metrics()), head_only);
        case route::tasks:
            return http::make_response(200, text_plain, format_dump(dump_for(st, backtraces)),
                                       head_only);
        case route::tasks_json:
            return http::make_response(200, "application/json",
                                       format_dump_json(dump_for(st, backtraces)), head_only);
    }
    return error_response(500, head_only);
}

// Serves one connection: one request, one response, then a graceful close.
void serve(net::tcp_stream& s, const server_state& st) {
    http::request_reader reader(st.opts.max_request_head);
    int status = 0;
    std::string response;
    try {
        switch (read_head(s, reader, status, st.opts)) {
            case head_result::complete:
                if (status != 0) {
                    response = error_response(status);
                    break;
                }
                try {
                    response = answer(reader.request(), st);
                } catch (const std::bad_alloc&) {
                    response = error_response(500);
                }
                break;
            case head_result::too_large:
                response = error_response(431);
                break;
            case head_result::timed_out:
                response = error_response(408);
                break;
            case head_result::closed:
                // A client that half-closed after a partial head may still read the answer.
                if (reader.size() == 0) return;
                response = error_response(400);
                break;
        }
        weft::timeout(st.opts.write_timeout, [&] { s.write_all(asio::buffer(response)); });
        s.shutdown_write();
        weft::timeout(drain_time, [&] {
            char chunk[4096];
            std::size_t total = 0;
            while (total < drain_bytes) {
                std::size_t n = s.read_some(asio::buffer(chunk));
                if (n == 0) break;
                total += n;
            }
        });
    } catch (const elapsed&) {
        // A client too slow to read its response or to close: drop it.
    } catch (const boost::system::system_error&) {
        // The client reset or closed the connection: nothing to answer.
    }
}

// The listener task's body.
void listen(net::tcp_listener& listener, const std::shared_ptr<const server_state>& st) {
    std::vector<join_handle<void>> conns;
    // Runs as the listener unwinds (normally from the abort stop() sent): ends every
    // connection before the listener task completes, so joining the listener joins them all.
    struct reaper {
        std::vector<join_handle<void>>& conns;
        ~reaper() {
            this_task::shield shielded;
            for (auto& h : conns) h.abort();
            for (auto& h : conns) {
                try {
                    h.join();
                } catch (...) {
                    // Aborted (the usual case), or a failure the runtime already reported.
                }
            }
        }
    } reap{conns};

    for (;;) {
        net::tcp_stream s = listener.accept(st->where);
        std::erase_if(conns, [](const join_handle<void>& h) { return h.is_finished(); });
        if (conns.size() >= st->opts.max_connections) continue;  // `s` closes here
        detail::spawn_options o;
        o.name = connection_name;
        conns.push_back(detail::spawn_with(
            nullptr, std::move(o), [s = std::move(s), st]() mutable { serve(s, *st); }, st->where));
    }
}

}  // namespace

console::console(console&& o) noexcept
    : server_(std::move(o.server_)),
      endpoint_(std::exchange(o.endpoint_, {})) {}

console& console::operator=(console&& o) noexcept {
    if (this != &o) {
        try {
            stop();
        } catch (...) {
            // stop() from a worker outside a task: the old console was aborted, not joined.
        }
        server_ = std::move(o.server_);
        endpoint_ = std::exchange(o.endpoint_, {});
    }
    return *this;
}

console::~console() {
    try {
        stop();
    } catch (...) {
        // As in operator=: aborted but not waited for.
    }
}

console console::start(const handle& h, console_options options, std::source_location where) {
    auto st = std::make_shared<server_state>();
    st->opts = std::move(options);
    st->sched = detail::runtime_handle_access::scheduler_of(h);
    st->where = where;

    detail::spawn_options bind_opts;
    bind_opts.name = listener_name;
    std::string addr = st->opts.address;
    join_handle<net::tcp_listener> binding = detail::spawn_with(
        st->sched, std::move(bind_opts),
        [addr, where] { return net::tcp_listener::bind(addr, where); }, where);
    net::tcp_listener listener = [&] {
        try {
            return binding.join(where);
        } catch (const join_error& e) {
            // Report bind's own error (invalid_argument, system_error), not the wrapper.
            if (e.is_exception() && e.exception()) std::rethrow_exception(e.exception());
            throw;
        }
    }();
    asio::ip::tcp::endpoint ep = listener.local_addr();
    st->loopback = ep.address().is_loopback();

    detail::spawn_options listen_opts;
    listen_opts.name = listener_name;
    std::shared_ptr<const server_state> shared = std::move(st);
    join_handle<void> server = detail::spawn_with(
        shared->sched, std::move(listen_opts),
        [listener = std::move(listener), shared]() mutable { listen(listener, shared); }, where);
    return console(std::move(server), ep);
}

console console::start(const handle& h, std::string_view address, std::source_location where) {
    console_options o;
    o.address = std::string(address);
    return start(h, std::move(o), where);
}

console console::start(const runtime& rt, console_options options, std::source_location where) {
    return start(rt.handle(), std::move(options), where);
}

console console::start(const runtime& rt, std::string_view address, std::source_location where) {
    return start(rt.handle(), address, where);
}

std::string console::url() const {
    if (!server_.valid()) return {};
    if (endpoint_.address().is_v6()) {
        return fmt::format("http://[{}]:{}/", endpoint_.address().to_string(), endpoint_.port());
    }
    return fmt::format("http://{}:{}/", endpoint_.address().to_string(), endpoint_.port());
}

void console::stop() {
    if (!server_.valid()) return;
    join_handle<void> server = std::move(server_);
    endpoint_ = {};
    server.abort();
    // Shielded: an abort of the caller must not leave the console half stopped.
    this_task::shield shielded;
    try {
        server.join();
    } catch (const join_error&) {
        // Cancelled: the normal end of a console. An exception from accept (reported by the
        // runtime when the task ended) ends it too.
    }
}

}  // namespace weft
