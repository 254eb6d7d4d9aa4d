// relay: a line-protocol publish/subscribe relay over TCP, shaped like a Tokio service ported
// to weft (issue #13). Clients SUB to topics, PUB lines to them, and receive "MSG topic text";
// see protocol.hpp for the protocol and README.md for the design.
//
//   relay [--port N] [--max-clients N] [--rate N] [--idle-ms N] [--topic-capacity N]
//         [--max-line N]
//
// The first line printed is "listening on 127.0.0.1:PORT" (--port 0, the default, picks a free
// port). Ctrl-C (SIGINT): stop accepting, every client gets "BYE shutdown", the connections
// are joined (those still running after 2 s are aborted), "shutdown: N connections closed" is
// printed and the process exits 0. Bad arguments: a usage line, exit 2.
//
// It shows: weft::select with weft::when guards in a per-connection loop (read_line with an
// idle deadline, subscription deliveries, a rate-limit refill tick, a config watch, the
// shutdown token), broadcast topics behind a weft::mutex, an mpsc outbox drained by a writer
// task, a semaphore capping clients, a join_set reaped by the accept loop's select, and a
// graceful shutdown driven by signal::ctrl_c and a cancellation_token.
#include "config.hpp"
#include "protocol.hpp"
#include "server.hpp"

#include <weft/weft.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace {

int usage(const char* why) {
    std::fprintf(stderr,
                 "relay: %s\nusage: relay [--port N] [--max-clients N] [--rate N] [--idle-ms N] "
                 "[--topic-capacity N] [--max-line N]\n",
                 why);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t port = 0;
    relay::config cfg;
    relay::limits lim;
    for (int i = 1; i < argc; i += 2) {
        std::string_view flag = argv[i];
        if (i + 1 == argc) return usage("every flag needs a value");
        std::string_view value = argv[i + 1];
        std::uint64_t v = 0;
        auto number = [&](std::uint64_t lo, std::uint64_t hi) {
            return relay::parse_number(value, lo, hi, v);
        };
        if (flag == "--port") {
            if (!number(0, 65535)) return usage("--port needs a number from 0 to 65535");
            port = v;
        } else if (flag == "--max-clients") {
            if (!number(1, 100'000)) return usage("--max-clients needs a number from 1 to 100000");
            lim.max_clients = v;
        } else if (flag == "--rate") {
            if (!number(0, relay::max_rate))
                return usage("--rate needs a number from 0 (no limit) to 1000000");
            cfg.rate = v;
        } else if (flag == "--idle-ms") {
            if (!number(1, relay::max_idle_ms))
                return usage("--idle-ms needs a number from 1 to 86400000");
            cfg.idle = std::chrono::milliseconds(v);
        } else if (flag == "--topic-capacity") {
            if (!number(1, 1'000'000))
                return usage("--topic-capacity needs a number from 1 to 1000000");
            lim.topic_capacity = v;
        } else if (flag == "--max-line") {
            if (!number(16, 1 << 20)) return usage("--max-line needs a number from 16 to 1048576");
            lim.max_line = v;
        } else {
            return usage("unknown argument");
        }
    }
    try {
        std::size_t closed = 0;
        weft::runtime rt;
        // `kill -QUIT` prints every task and where it waits, with its stack: a stalled
        // connection names itself (the end-to-end test asks for it when a reply is late).
        auto dump_guard = weft::dump_on_signal(rt.handle(), SIGQUIT);
        rt.block_on([&] {
            auto listener = weft::net::tcp_listener::bind("127.0.0.1:" + std::to_string(port));
            weft::cancellation_token stop;
            // [relay_signal]
            auto on_sigint = weft::spawn([stop] {
                weft::signal::ctrl_c();
                stop.cancel();
            });
            // [relay_signal]
            const auto ep = listener.local_addr();
            std::printf("listening on %s:%u\n", ep.address().to_string().c_str(), ep.port());
            std::fflush(stdout);
            closed = relay::serve(listener, stop, cfg, lim);
            on_sigint.join();  // it cancelled `stop`: it has ended
        });
        std::printf("shutdown: %zu connections closed\n", closed);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "relay: %s\n", e.what());
        return 1;
    }
}
