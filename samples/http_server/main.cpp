// http_server: one HTTP server on Boost.Beast, driven three ways, for the drop-in comparison
// that docs/guide/asio-interop.md walks through and `scripts/bench --http` measures:
//
//   http_server --run io_context [--threads N]  the callback server (callback_server.cpp) on
//                                              an io_context run by N threads: the program as
//                                              an Asio code base has it
//   http_server --run weft [--threads N]        the same callback server, unchanged, given
//                                              weft's executor instead (N workers)
//   http_server --run tasks [--threads N]       a weft task per connection (task_server.cpp)
//
// Options: --listen ADDR (default 127.0.0.1:8080; port 0 picks one), --threads N (default 2).
// Every server answers GET / with "hello from <run>". The first line printed is
// "listening on ADDR:PORT"; SIGINT or SIGTERM stops it (exit 0); bad arguments exit 2.
#include "callback_server.hpp"
#include "task_server.hpp"

#include <weft/weft.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {
namespace asio = boost::asio;
using asio::ip::tcp;

std::optional<tcp::endpoint> parse_endpoint(std::string_view s) {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    boost::system::error_code ec;
    auto address = asio::ip::make_address(std::string(s.substr(0, colon)), ec);
    unsigned short port = 0;
    const char* first = s.data() + colon + 1;
    const char* last = s.data() + s.size();
    auto [end, perr] = std::from_chars(first, last, port);
    if (ec || perr != std::errc() || end != last || first == last) return std::nullopt;
    return tcp::endpoint(address, port);
}

int usage(const char* why) {
    std::fprintf(stderr,
                 "http_server: %s\nusage: http_server --run io_context|weft|tasks "
                 "[--threads N] [--listen ADDR]\n",
                 why);
    return 2;
}

void announce(const tcp::endpoint& ep, std::string_view run, unsigned threads) {
    std::printf("listening on %s:%u (%.*s, %u threads)\n", ep.address().to_string().c_str(),
                ep.port(), static_cast<int>(run.size()), run.data(), threads);
    std::fflush(stdout);
}

int run_io_context(const tcp::endpoint& endpoint, unsigned threads) {
    asio::io_context ioc(static_cast<int>(threads));
    auto listener = std::make_shared<http_server::callback_listener>(ioc.get_executor(), endpoint,
                                                                     "io_context");
    listener->run();
    announce(listener->local_endpoint(), "io_context", threads);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) {
        listener->stop();
        ioc.stop();
    });
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    return 0;
}

int run_weft_callbacks(const tcp::endpoint& endpoint, unsigned threads) {
    auto rt = weft::builder::multi_thread().worker_threads(threads).build();
    // [drop_in]
    // The io_context's executor was all the server took; weft's takes its place.
    auto listener =
        std::make_shared<http_server::callback_listener>(rt.get_executor(), endpoint, "weft");
    listener->run();
    // [drop_in]
    announce(listener->local_endpoint(), "weft", threads);
    rt.block_on([] { weft::signal::wait({SIGINT, SIGTERM}); });
    listener->stop();
    return 0;
}

int run_weft_tasks(const tcp::endpoint& endpoint, unsigned threads) {
    auto rt = weft::builder::multi_thread().worker_threads(threads).build();
    rt.block_on([&] {
        auto listener = weft::net::tcp_listener::bind(endpoint);
        announce(listener.local_addr(), "tasks", threads);
        auto acceptor = weft::spawn([&] { http_server::serve_tasks(listener, "tasks"); });
        weft::signal::wait({SIGINT, SIGTERM});
        acceptor.abort();
        try {
            acceptor.join();
        } catch (const weft::join_error& e) {
            if (!e.is_cancelled()) throw;  // the accept loop failed before the signal
        }
    });
    // Dropping the runtime cancels the connection tasks still open.
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string_view run;
    unsigned threads = 2;
    std::string listen = "127.0.0.1:8080";
    for (int i = 1; i < argc; i += 2) {
        std::string_view flag = argv[i];
        if (i + 1 == argc) return usage("every flag needs a value");
        std::string_view value = argv[i + 1];
        if (flag == "--run" && (value == "io_context" || value == "weft" || value == "tasks")) {
            run = value;
        } else if (flag == "--threads") {
            auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), threads);
            if (err != std::errc() || end != value.data() + value.size() || threads == 0 ||
                threads > 256) {
                return usage("--threads takes a number from 1 to 256");
            }
        } else if (flag == "--listen") {
            listen = value;
        } else {
            return usage("bad or unknown argument");
        }
    }
    if (run.empty()) return usage("--run io_context|weft|tasks is required");
    auto endpoint = parse_endpoint(listen);
    if (!endpoint) return usage("--listen needs a numeric ADDRESS:PORT, e.g. 127.0.0.1:0");
    try {
        if (run == "io_context") return run_io_context(*endpoint, threads);
        if (run == "weft") return run_weft_callbacks(*endpoint, threads);
        return run_weft_tasks(*endpoint, threads);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "http_server: %s\n", e.what());
        return 1;
    }
}
