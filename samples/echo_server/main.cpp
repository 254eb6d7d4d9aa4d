// echo_server: a TCP echo server, one task per connection (the showcase run by scripts/demo).
//
//   echo_server --listen 127.0.0.1:7000     serve until Ctrl-C (port 0 picks a free port; the
//                                           first line printed is "listening on ADDR")
//   echo_server --demo [--connections N] [--seconds S] [--size B]
//       starts the server on 127.0.0.1:0, drives it with the load client (echo_load's code)
//       from the same process for S seconds (default 2) over N connections (default 8),
//       prints the requests/s, and exits 0 if every reply matched its request.
//
// It shows: tcp_listener / tcp_stream with blocking-style code in tasks, an accept loop that
// owns its connection tasks, weft::select against signal::ctrl_c for a clean stop.
#include "cli.hpp"
#include "load.hpp"
#include "server.hpp"

#include <weft/weft.hpp>

#include <cstdio>
#include <span>
#include <string>
#include <string_view>

namespace {

void usage(std::FILE* to) {
    std::fputs("usage: echo_server --listen ADDR\n"
               "       echo_server --demo [--connections N] [--seconds S] [--size BYTES]\n",
               to);
}

// [run_server]
int run_server(const std::string& address) {
    weft::runtime rt;
    rt.block_on([&] {
        auto listener = weft::net::tcp_listener::bind(address);
        const auto ep = listener.local_addr();
        std::printf("listening on %s:%u\n", ep.address().to_string().c_str(), ep.port());
        std::fflush(stdout);  // a script waiting for the port reads this line now
        // Serve until Ctrl-C: select cancels the accept loop when ctrl_c returns, and the
        // loop aborts and joins its connections on the way out.
        weft::select([&] { echo::serve(listener); }, [] { weft::signal::ctrl_c(); });
    });
    std::puts("echo_server: stopped");
    return 0;
}
// [run_server]

// [run_demo]
int run_demo(echo::load_options opt) {
    weft::runtime rt;
    echo::load_result result = rt.block_on([&] {
        auto listener = weft::net::tcp_listener::bind("127.0.0.1:0");
        opt.address = "127.0.0.1:" + std::to_string(listener.local_addr().port());
        std::printf("echo_server: listening on %s; %zu connections for %.0f s\n",
                    opt.address.c_str(), opt.connections,
                    std::chrono::duration<double>(opt.duration).count());
        std::fflush(stdout);
        auto server = weft::spawn([&listener] { echo::serve(listener); });
        echo::load_result r = echo::run_load(opt);
        server.abort();  // stops the accept loop, which aborts and joins its connections
        try {
            server.join();
        } catch (const weft::join_error&) {
            // cancelled, as asked
        }
        return r;
    });
    std::puts(echo::describe(opt, result).c_str());
    return result.ok() ? 0 : 1;
}
// [run_demo]

}  // namespace

int main(int argc, char** argv) {
    std::span<char*> args(argv + 1, static_cast<std::size_t>(argc - 1));
    try {
        if (args.size() == 2 && std::string_view(args[0]) == "--listen") return run_server(args[1]);
        if (!args.empty() && std::string_view(args[0]) == "--demo") {
            echo::load_options opt;
            echo::parse_load_flags(args.subspan(1), opt, /*allow_connect=*/false);
            return run_demo(opt);
        }
        if (args.size() == 1 &&
            (std::string_view(args[0]) == "-h" || std::string_view(args[0]) == "--help")) {
            usage(stdout);
            return 0;
        }
        throw echo::usage_error(args.empty() ? "nothing to do" : "unexpected arguments");
    } catch (const echo::usage_error& e) {
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        usage(stderr);
        return 2;
    } catch (const std::exception& e) {
        // e.g. the address does not parse or is in use
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
}
