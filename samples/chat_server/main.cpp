// chat_server: a line-based chat room over TCP (telnet/nc friendly), Tokio's classic example.
//
//   chat_server [--listen 127.0.0.1:7000] [--capacity N]
//
// The first line printed is "listening on ADDR" (port 0 picks a free port). Each client first
// sends its name, then every line it sends reaches all the others as "name: line". Ctrl-C
// (SIGINT) shuts the server down gracefully: every client is told "* server shutting down",
// its connection is closed, every client task is joined, and the process exits 0.
//
// It shows: weft::broadcast as the room (capacity N, default 64: a client more than N lines
// behind is told it lagged), one task per client with select over its two directions, and
// graceful shutdown with signal::ctrl_c, a final broadcast and a bounded join.
#include "client.hpp"
#include "message.hpp"

#include <weft/weft.hpp>

#include <boost/system/system_error.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;

void join_quietly(weft::join_handle<void>& h) {
    if (!h.valid()) return;  // joined already
    try {
        h.join();
    } catch (const weft::join_error&) {
        // aborted, or the client's connection failed: it is over either way
    }
}

// [serve_room]
void serve_room(weft::net::tcp_listener& listener, std::size_t capacity) {
    // The room is a broadcast channel. We keep only its sender; each client subscribes.
    weft::broadcast::sender<chat::message> room =
        weft::broadcast::channel<chat::message>(capacity).first;
    std::vector<weft::join_handle<void>> clients;
    chat::client_id next_id = 1;

    // Accept clients until Ctrl-C; select then cancels the accept loop (at accept()).
    weft::select(
        [&] {
            for (;;) {
                weft::net::tcp_stream stream = listener.accept();
                std::erase_if(clients, [](const auto& c) { return c.is_finished(); });
                clients.push_back(
                    weft::spawn([s = std::move(stream), id = next_id++, room]() mutable {
                        try {
                            chat::serve_client(std::move(s), id, std::move(room));
                        } catch (const boost::system::system_error&) {
                            // this client's connection failed; the others carry on
                        }
                    }));
            }
        },
        [] { weft::signal::ctrl_c(); });

    // Graceful shutdown: every client task writes the notice and returns. A client that
    // stopped reading could hold its task in write_all forever, so the wait is bounded, and
    // whoever is left after it is aborted.
    std::puts("chat_server: shutting down");
    std::fflush(stdout);
    room.send({0, "* server shutting down\n", /*last=*/true});
    try {
        weft::timeout(2s, [&] {
            for (auto& c : clients) join_quietly(c);
        });
    } catch (const weft::elapsed&) {
        for (auto& c : clients) c.abort();
        for (auto& c : clients) join_quietly(c);
    }
}
// [serve_room]

int usage(const char* why) {
    std::fprintf(stderr, "chat_server: %s\nusage: chat_server [--listen ADDR] [--capacity N]\n",
                 why);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string address = "127.0.0.1:7000";
    std::size_t capacity = 64;
    for (int i = 1; i < argc; i += 2) {
        std::string_view flag = argv[i];
        if (i + 1 == argc) return usage("every flag needs a value");
        std::string_view value = argv[i + 1];
        if (flag == "--listen") {
            address = value;
        } else if (flag == "--capacity") {
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), capacity);
            if (ec != std::errc() || end != value.data() + value.size() || capacity == 0 ||
                capacity > 1'000'000) {
                return usage("--capacity needs a whole number from 1 to 1000000");
            }
        } else {
            return usage("unknown argument");
        }
    }
    try {
        weft::runtime rt;
        rt.block_on([&] {
            auto listener = weft::net::tcp_listener::bind(address);
            const auto ep = listener.local_addr();
            std::printf("listening on %s:%u\n", ep.address().to_string().c_str(), ep.port());
            std::fflush(stdout);
            serve_room(listener, capacity);
        });
        std::puts("chat_server: every client task joined; bye");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "chat_server: %s\n", e.what());
        return 1;
    }
}
