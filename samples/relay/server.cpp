// The accept loop and the shutdown.
//
// Invariants: every connection task is in `conns` (a join_set) from its spawn until it is
// reaped, so none outlives serve(); each holds one permit of `slots` for as long as it runs,
// so at most max_clients are served at once (a client over the cap gets "ERR busy" and is
// closed at once, never queued).
#include "server.hpp"

#include "connection.hpp"
#include "topics.hpp"

#include <weft/channel.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <memory>
#include <string_view>

namespace relay {

namespace {

using namespace std::chrono_literals;

constexpr auto drain_timeout = 2s;

// Joins the next connection task to end; true if the shutdown closed it (an aborted one
// counts: the shutdown ended it too).
bool reap_one(weft::join_set<ending>& conns) {
    try {
        std::optional<ending> e = conns.join_next();
        return e == ending::shutdown;
    } catch (const weft::join_error& e) {
        return e.is_cancelled();
    }
}

void refuse(weft::net::tcp_stream& stream) {
    try {
        // A new socket's send buffer is empty, so this never waits on the client.
        constexpr std::string_view busy = "ERR busy\n";
        stream.write_all(boost::asio::buffer(busy));
    } catch (const boost::system::system_error&) {
        // gone already
    }
}

}  // namespace

std::size_t serve(weft::net::tcp_listener& listener, weft::cancellation_token stop,
                  const config& initial, const limits& lim) {
    topic_registry topics(lim.topic_capacity);
    // Connections subscribe through the sender; the channel's first receiver is not needed.
    const weft::watch::sender<config> config_tx = weft::watch::channel<config>(initial).first;
    const shared sh{topics, config_tx, stop, lim};
    auto slots = std::make_shared<weft::semaphore>(lim.max_clients);
    weft::join_set<ending> conns;
    // However the loop below ends (stop, or an accept error thrown), no connection task may
    // outlive `sh` and what it refers to. The normal path empties the set before this runs.
    struct join_all_on_exit {
        weft::join_set<ending>& conns;
        ~join_all_on_exit() {
            weft::this_task::shield no_throw;  // a pending abort must not throw from here
            conns.abort_all();
            while (!conns.empty()) reap_one(conns);
        }
    } guard{conns};

    std::size_t closed = 0;  // by the shutdown: counted wherever they are reaped
    // [relay_accept]
    for (;;) {
        auto ev = weft::select([&] { return listener.accept(); },
                               weft::when(!conns.empty(), [&] { return reap_one(conns); }),
                               [&] { stop.cancelled(); });
        if (ev.index() == 2) break;
        if (ev.index() == 1) {
            closed += std::get<1>(ev) ? 1 : 0;  // one that ended as the shutdown began
            continue;
        }
        weft::net::tcp_stream stream = std::move(std::get<0>(ev));
        std::optional<weft::owned_semaphore_permit> permit = weft::try_acquire_owned(slots);
        if (!permit) {
            refuse(stream);
            continue;
        }
        conns.spawn([&sh, s = std::move(stream), p = std::move(*permit)]() mutable {
            try {
                return serve_connection(std::move(s), sh);
            } catch (const boost::system::system_error&) {
                return ending::client;  // this connection failed (reset, ...); others go on
            }
        });
    }
    // [relay_accept]

    // [relay_shutdown]
    // Every connection sees `stop` in its select and says "BYE shutdown". One that cannot
    // (its client stopped reading, so its writer is stuck) is aborted after the drain timeout.
    try {
        weft::timeout(drain_timeout, [&] {
            while (!conns.empty()) closed += reap_one(conns) ? 1 : 0;
        });
    } catch (const weft::elapsed&) {
        conns.abort_all();
        while (!conns.empty()) closed += reap_one(conns) ? 1 : 0;
    }
    // [relay_shutdown]
    return closed;
}

}  // namespace relay
