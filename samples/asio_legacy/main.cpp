// asio_legacy: the drop-in path for an existing Asio codebase. A callback-style server
// (async_accept / async_read_some handlers, strands) runs unchanged on a weft runtime's
// executor, then moves one connection handler at a time to fibers:
//
//   asio_legacy --step 1 [--listen ADDR]   pure callbacks (callback_session.cpp): the Asio code
//                                          as it was; only its executor is weft's
//   asio_legacy --step 2 [--listen ADDR]   the accept handler spawns a weft task per
//                                          connection; the task uses the same raw Asio socket
//                                          with weft::use_fiber, in blocking style
//   asio_legacy --step 3 [--listen ADDR]   the task wraps the socket in weft::net::tcp_stream
//
// Each serves an echo protocol: a greeting line naming the step, then every byte echoed.
// ADDR defaults to 127.0.0.1:7000 (port 0 picks a free port); the first line printed is
// "listening on ADDR". Ctrl-C stops it (exit 0).
#include "legacy_server.hpp"

#include <weft/weft.hpp>

#include <charconv>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

/// "ADDRESS:PORT" (numeric address, as Asio's endpoint takes it); nullopt if malformed.
std::optional<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& s) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(s.substr(0, colon), ec);
    unsigned short port = 0;
    const char* first = s.data() + colon + 1;
    const char* last = s.data() + s.size();
    auto [end, perr] = std::from_chars(first, last, port);
    if (ec || perr != std::errc() || end != last || first == last) return std::nullopt;
    return boost::asio::ip::tcp::endpoint(address, port);
}

int usage(const char* why) {
    std::fprintf(stderr, "asio_legacy: %s\nusage: asio_legacy --step 1|2|3 [--listen ADDR]\n", why);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    int step = 0;
    std::string address = "127.0.0.1:7000";
    for (int i = 1; i < argc; i += 2) {
        std::string_view flag = argv[i];
        if (i + 1 == argc) return usage("every flag needs a value");
        std::string_view value = argv[i + 1];
        if (flag == "--step" && value.size() == 1 && value[0] >= '1' && value[0] <= '3') {
            step = value[0] - '0';
        } else if (flag == "--listen") {
            address = value;
        } else {
            return usage("bad or unknown argument");
        }
    }
    if (step == 0) return usage("--step 1|2|3 is required");
    auto endpoint = parse_endpoint(address);
    if (!endpoint) return usage("--listen needs a numeric ADDRESS:PORT, e.g. 127.0.0.1:0");

    try {
        // [drop_in]
        weft::runtime rt;
        // The existing server, given the runtime's executor where it used to get an
        // io_context's: its handlers now run on weft's workers, next to the tasks.
        auto server = std::make_shared<legacy::legacy_server>(rt.get_executor(), *endpoint, step);
        server->start();
        // [drop_in]
        const auto ep = server->local_endpoint();
        std::printf("listening on %s:%u (step %d)\n", ep.address().to_string().c_str(), ep.port(),
                    step);
        std::fflush(stdout);

        rt.block_on([] { weft::signal::ctrl_c(); });
        server->stop();
        std::puts("asio_legacy: stopped");
        // Destroying the runtime cancels the connection tasks and drops the pending handlers
        // (which frees the step 1 sessions).
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asio_legacy: %s\n", e.what());
        return 1;
    }
}
