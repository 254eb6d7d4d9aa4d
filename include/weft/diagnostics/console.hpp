// console: an HTTP endpoint on a runtime that serves its metrics (Prometheus text), its task
// dump (text and JSON) and a small live HTML page (in the spirit of Tokio's console).
#pragma once

#include <weft/runtime/handle.hpp>
#include <weft/runtime/runtime.hpp>
#include <weft/task/join_handle.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <source_location>
#include <string>
#include <string_view>

namespace weft {

/// Settings of a weft::console.
struct console_options {
    /// Where to listen, "host:port" or "[v6]:port"; port 0 picks a free port. Loopback by
    /// default: the dump shows task names and source locations, which are nobody else's
    /// business. Listen elsewhere only behind something that authenticates.
    std::string address = "127.0.0.1:0";
    /// How long a client may take to send a whole request head; then it gets 408 and is
    /// closed (a slow or silent client holds only its own connection's task).
    std::chrono::milliseconds read_timeout{5000};
    /// How long writing one response may take (a client that does not read); then the
    /// connection is closed.
    std::chrono::milliseconds write_timeout{10000};
    /// The largest request head (request line and headers) accepted; a longer one gets 431.
    std::size_t max_request_head = 8192;
    /// Connections served at once; one more is closed as soon as it is accepted.
    std::size_t max_connections = 64;
    /// While listening on a loopback address, answer 403 to a request whose Host header
    /// names anything but a loopback address or "localhost" (a web page the user visits
    /// could otherwise read the console through DNS rebinding).
    bool check_host = true;
};

/// An HTTP/1.1 diagnostics endpoint served by tasks on a runtime (weft's own net layer: a
/// listener task and one task per connection, each suspending only itself).
///
/// ```cpp
/// auto rt = weft::runtime();
/// weft::console console = weft::console::start(rt);          // 127.0.0.1, a free port
/// std::printf("console at %s\n", console.url().c_str());
/// ```
///
/// Routes (GET and HEAD; any other method on them gets 405):
/// - `/`           a self-contained HTML page (no external resources) that polls the two
///                 below every second and shows a metrics table and a task table;
/// - `/metrics`    format_prometheus(metrics()) (Prometheus text format 0.0.4);
/// - `/tasks`      format_dump(dump()), text/plain;
/// - `/tasks.json` format_dump_json(dump()).
/// `/tasks?bt=1` and `/tasks.json?bt=1` dump with weft::with_backtraces (each parked task's
/// stack; taken on the blocking pool, not on a worker); `bt=0` is the plain dump, any other
/// value of `bt` a 400.
/// Any other path gets 404, a malformed request 400, a request head over
/// console_options::max_request_head 431, an HTTP major version other than 1 505 (HTTP/1.0
/// and HTTP/1.1 are served; another 1.x is malformed to the parser, 400). Every response
/// carries `Connection: close`.
///
/// The console's own tasks are named "weft::console" (the listener) and
/// "weft::console connection", and appear in the dump and in the task counts.
/// Movable, not copyable. Destroying it stops it (see stop()). It may outlive its runtime:
/// the runtime's shutdown ends its tasks, and stop() then only reaps them.
class console {
   public:
    /// An empty console (not running).
    console() noexcept = default;
    /// Takes over `o`'s console; `o` becomes empty.
    console(console&& o) noexcept;
    /// Stops this console (see stop()), then takes `o`'s.
    console& operator=(console&& o) noexcept;
    console(const console&) = delete;
    console& operator=(const console&) = delete;
    /// stop(), ignoring its errors.
    ~console();

    /// Binds options.address and starts serving on `h`'s runtime; returns once the listener
    /// is bound (local_endpoint() is then valid). Callable from a plain thread (which blocks
    /// while binding), from a task of any runtime (which suspends) or from the blocking pool.
    /// Throws system_error if the address cannot be bound, std::invalid_argument if it does
    /// not parse, std::logic_error from a worker thread outside a task, a cancelled
    /// join_error if the runtime is shutting down.
    /// **Cancellation**: a cancellation point while binding; an abort then throws
    /// task_cancelled and nothing is left listening.
    static console start(const handle& h, console_options options = {},
                         std::source_location where = std::source_location::current());
    /// start(h, options) with only the address set.
    static console start(const handle& h, std::string_view address,
                         std::source_location where = std::source_location::current());
    /// start(rt.handle(), options).
    static console start(const runtime& rt, console_options options = {},
                         std::source_location where = std::source_location::current());
    /// start(rt.handle(), options) with only the address set.
    static console start(const runtime& rt, std::string_view address,
                         std::source_location where = std::source_location::current());

    /// The address the console listens on (with the port picked when it asked for 0); a
    /// default-constructed endpoint when the console is empty.
    [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const noexcept {
        return endpoint_;
    }
    /// "http://<local_endpoint>/" (IPv6 in brackets); empty when the console is empty.
    [[nodiscard]] std::string url() const;
    /// True between start() and stop() (also after the runtime shut the console's tasks down).
    [[nodiscard]] bool is_running() const noexcept { return server_.valid(); }

    /// Stops listening, aborts every connection being served (a client mid-request sees the
    /// connection closed) and waits until the console's tasks have ended. Idempotent. From a
    /// plain thread it blocks; from a task it suspends; from a worker thread outside a task
    /// it throws std::logic_error (the tasks are aborted but not waited for).
    /// **Cancellation**: not a cancellation point: the wait is shielded, so the console is
    /// always fully stopped when stop() returns (its tasks end promptly once aborted).
    void stop();

   private:
    console(join_handle<void> server, boost::asio::ip::tcp::endpoint ep) noexcept
        : server_(std::move(server)),
          endpoint_(ep) {}

    join_handle<void> server_;  // the listener task; it reaps the connection tasks as it ends
    boost::asio::ip::tcp::endpoint endpoint_;
};

}  // namespace weft
