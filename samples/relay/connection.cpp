// One relay connection. Three kinds of task work for it:
//
//   - the connection task (serve_connection): reads commands and runs the select loop below;
//   - one forwarder task per subscription: broadcast::recv on the topic -> the deliveries mpsc
//     (a Tokio port would put BroadcastStreams in a StreamMap; the number of subscriptions
//     changes at run time, and a weft::select has a fixed set of branches, so each
//     subscription gets a task that funnels into one channel the loop can select on);
//   - the writer task: drains the outbox mpsc to the socket, so that a client that reads
//     slowly stalls only its own writer, and the replies and messages keep one order.
//
// Invariants:
//   - Every line to the client goes through the outbox, sent from the connection task only
//     (one producer: the order the loop decides is the order on the wire; "OK" for a SUB is
//     queued before any MSG of that subscription).
//   - Nothing taken from a channel or the socket is dropped: each select branch only takes
//     something (a line, a delivery, a config change) when it wins (weft::select's claim), and
//     what it took is handled in the loop body, outside the select, where no sibling can
//     cancel it. In particular the outbox send (not cancel-safe) is never inside a branch.
//   - A delivery is written only if its subscription is still the current one for its topic
//     (UNSUB, or UNSUB then SUB again, leaves stale deliveries in the channel; they are
//     dropped by id).
//   - Back-pressure, not loss: a slow client fills the socket, then the outbox (the loop waits
//     in send), then the deliveries channel (its forwarders wait in send), then the topic's
//     broadcast buffer, where the receiver lags: the client is told "LAGGED topic N", so for
//     every subscriber received + lagged == published.
#include "connection.hpp"

#include "protocol.hpp"
#include "token_bucket.hpp"

#include <weft/task.hpp>
#include <weft/time.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace relay {

namespace {

using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;

constexpr std::size_t outbox_capacity = 64;      // lines queued for the writer
constexpr std::size_t deliveries_capacity = 64;  // messages queued by the forwarders
constexpr std::size_t write_batch = 64;          // lines per write_all
constexpr auto refill_period = 50ms;             // token bucket refill tick
constexpr auto writer_grace = 1s;                // to flush the last lines when closing

// A message (or a lag report) on its way from a forwarder to the connection loop.
struct delivery {
    std::uint64_t sub = 0;  // the subscription it belongs to
    std::string topic;
    std::string text;
    std::uint64_t lagged = 0;  // > 0: a lag report, `text` is empty
};

// A forwarder task's body: one subscription's broadcast receiver -> the deliveries channel.
// Ends when the topic closes; aborted by UNSUB and when the connection ends.
void forward(weft::broadcast::receiver<std::string>& rx, const weft::mpsc::sender<delivery>& tx,
             std::uint64_t sub, const std::string& topic) {
    for (;;) {
        delivery d{sub, topic, {}, 0};
        try {
            d.text = rx.recv();
        } catch (const weft::broadcast::lagged& e) {
            // The receiver moved on to the oldest message still kept: report the gap and go on.
            d.lagged = e.skipped();
        } catch (const weft::channel_closed&) {
            return;
        }
        tx.send(std::move(d));  // waits while the loop is behind: that is the back-pressure
    }
}

// The writer task's body. On a write error the outbox is closed, so the connection task's
// next send fails (send_error) and the connection ends.
void write_loop(weft::net::tcp_write_half& out, weft::mpsc::receiver<std::string>& rx) {
    std::vector<std::string> batch;
    std::string buf;
    try {
        while (rx.recv_many(batch, write_batch) > 0) {
            buf.clear();
            for (const auto& line : batch) buf += line;
            batch.clear();
            out.write_all(boost::asio::buffer(buf));
        }
    } catch (...) {
        rx.close();
        throw;
    }
}

// Joins a task, whatever it ended with (its failure ends only the connection).
void join_quietly(weft::join_handle<void>& h) {
    if (!h.valid()) return;
    try {
        h.join();
    } catch (const weft::join_error&) {
        // aborted, or its socket failed: over either way
    }
}

// Owns the writer task: a connection never returns (or unwinds) while its writer still runs.
class writer_task {
   public:
    explicit writer_task(weft::join_handle<void> h)
        : h_(std::move(h)) {}
    writer_task(const writer_task&) = delete;
    writer_task& operator=(const writer_task&) = delete;
    ~writer_task() {
        // Normally the writer has ended (finish); if not, or if the connection is unwinding
        // from an abort, stop it. It ends at its current cancellation point, so the join is
        // short. The shield keeps a pending abort of this task from throwing out of the
        // destructor (join works while unwinding anyway).
        weft::this_task::shield no_throw;
        h_.abort();
        join_quietly(h_);
    }
    // Lets the writer flush what is queued (the outbox must be closed by then), for a while.
    void finish() {
        try {
            weft::timeout(writer_grace, [&] { join_quietly(h_); });
        } catch (const weft::elapsed&) {
            // The client stopped reading; the destructor aborts the writer.
        }
    }

   private:
    weft::join_handle<void> h_;
};

// What the read branch of the select returns.
struct read_result {
    enum class kind { line, eof, too_long, idle };
    kind what = kind::eof;
    std::string text;
};

std::string_view without_eol(std::string_view s) {
    if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return s;
}

// The command loop of one connection (runs on the connection task).
class session {
   public:
    session(const shared& sh, weft::net::tcp_read_half& in,
            const weft::mpsc::sender<std::string>& out)
        : sh_(sh),
          in_(in),
          out_(out),
          config_rx_(sh.config_tx.subscribe()),
          cfg_(*config_rx_.borrow_and_update()),
          bucket_(cfg_.rate, weft::time::now()),
          refill_(refill_period),
          last_input_(weft::time::now()) {
        // Ticks missed while the loop was busy are not caught up: refill() measures time.
        refill_.set_missed_tick_behavior(weft::missed_tick_behavior::skip);
        auto [tx, rx] = weft::mpsc::channel<delivery>(deliveries_capacity);
        deliveries_tx_.emplace(std::move(tx));
        deliveries_rx_.emplace(std::move(rx));
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session() {
        // The forwarders hold their topic's receiver: stop them. The set's destructor would
        // abort them without waiting; waiting here means no subscription outlives its
        // connection. They end at their current cancellation point (recv or send), so the wait
        // is short; the shield keeps a pending abort of this task from throwing out of the
        // destructor.
        weft::this_task::shield no_throw;
        forwarders_.abort_all();
        while (!forwarders_.empty()) {
            try {
                forwarders_.join_next();
            } catch (const weft::join_error&) {
                // aborted: as intended
            }
        }
    }

    ending run() {
        for (;;) {
            reap_forwarders();
            const time_point deadline = last_input_ + cfg_.idle;
            // [relay_select]
            auto ev = weft::select(
                [&] { return read_command(deadline); },
                weft::when(!subs_.empty(), [&] { return deliveries_rx_->recv(); }),
                weft::when(bucket_.limited() && !bucket_.full(), [&] { return refill_.tick(); }),
                [&] { config_rx_.changed(); }, [&] { sh_.stop.cancelled(); });
            // [relay_select]
            switch (ev.index()) {
                case 0: {
                    read_result r = std::move(std::get<0>(ev));
                    switch (r.what) {
                        case read_result::kind::eof:
                            return ending::client;
                        case read_result::kind::idle:
                            say("BYE idle");
                            return ending::idle;
                        case read_result::kind::too_long:
                            drop_long_line();
                            break;
                        case read_result::kind::line:
                            last_input_ = weft::time::now();
                            if (discarding_) {
                                discarding_ = false;  // the tail of an over-long line
                            } else if (!handle(without_eol(r.text))) {
                                say("BYE");
                                return ending::client;
                            }
                            break;
                    }
                    break;
                }
                case 1:
                    if (std::optional<delivery>& d = std::get<1>(ev)) deliver(std::move(*d));
                    break;
                case 2:
                    bucket_.refill(weft::time::now());
                    break;
                case 3:
                    apply_config();
                    break;
                case 4:
                    say("BYE shutdown");
                    return ending::shutdown;
            }
        }
    }

   private:
    struct subscription {
        std::uint64_t id;
        weft::abort_handle task;
    };

    // One line from the client, within the idle deadline. Cancel-safe as a select branch:
    // read_line takes a line only once the branch won, a partial line stays buffered.
    read_result read_command(time_point deadline) {
        try {
            return weft::timeout_at(deadline, [&] {
                read_result r;
                try {
                    r.what = in_.read_line(r.text, sh_.lim.max_line) == 0 ? read_result::kind::eof
                                                                          : read_result::kind::line;
                } catch (const std::length_error&) {
                    r.what = read_result::kind::too_long;
                }
                return r;
            });
        } catch (const weft::elapsed&) {
            return {read_result::kind::idle, {}};
        }
    }

    // read_line refused a line longer than max_line and left it buffered (at least max_line
    // bytes of it, none of them a '\n'). Like Tokio's LinesCodec, report it once and skip to
    // the end of that line: drop max_line of its bytes now (read_some returns buffered bytes
    // first, without touching the socket), and the next line read is its tail (dropped too)
    // or, if the rest is still too long, this happens again.
    void drop_long_line() {
        if (!discarding_) {
            say("ERR line too long (max " + std::to_string(sh_.lim.max_line) + " bytes)");
            discarding_ = true;
        }
        std::string scratch(sh_.lim.max_line, '\0');
        (void)in_.read_some(boost::asio::buffer(scratch));
    }

    // One command. False for QUIT.
    bool handle(std::string_view line) {
        auto parsed = parse(line);
        if (auto* e = std::get_if<parse_error>(&parsed)) {
            say("ERR " + e->reason);
            return true;
        }
        command& c = std::get<command>(parsed);
        switch (c.what) {
            case command::verb::sub:
                subscribe(c.topic);
                say("OK");
                break;
            case command::verb::unsub: {
                auto it = subs_.find(c.topic);
                if (it == subs_.end()) {
                    say("ERR not subscribed to " + c.topic);
                    break;
                }
                it->second.task.abort();  // reaped later; its late deliveries are dropped by id
                subs_.erase(it);
                say("OK");
                break;
            }
            case command::verb::pub:
                if (!bucket_.try_take(weft::time::now())) {
                    say("ERR rate");
                    break;
                }
                sh_.topics.publish(c.topic, std::move(c.text));
                say("OK");
                break;
            case command::verb::quit:
                return false;
            case command::verb::config_get:
                say("CONFIG rate " + std::to_string(cfg_.rate) + " idle " +
                    std::to_string(cfg_.idle.count()));
                break;
            case command::verb::config_rate:
                sh_.config_tx.send_modify([&](config& cf) { cf.rate = c.value; });
                say("OK");
                break;
            case command::verb::config_idle:
                sh_.config_tx.send_modify(
                    [&](config& cf) { cf.idle = std::chrono::milliseconds(c.value); });
                say("OK");
                break;
        }
        return true;
    }

    void subscribe(const std::string& topic) {
        if (subs_.contains(topic)) return;  // already subscribed: nothing changes
        const std::uint64_t id = next_sub_++;
        weft::abort_handle task =
            forwarders_.spawn([rx = sh_.topics.subscribe(topic), tx = *deliveries_tx_, id,
                               topic]() mutable { forward(rx, tx, id, topic); });
        subs_.emplace(topic, subscription{id, std::move(task)});
    }

    void deliver(delivery d) {
        auto it = subs_.find(d.topic);
        if (it == subs_.end() || it->second.id != d.sub) return;  // unsubscribed since
        if (d.lagged > 0) {
            say("LAGGED " + d.topic + " " + std::to_string(d.lagged));
        } else {
            say("MSG " + d.topic + " " + d.text);
        }
    }

    void apply_config() {
        config next = *config_rx_.borrow_and_update();  // copied: the guard must not be held
        if (next.rate != cfg_.rate) bucket_.set_rate(next.rate, weft::time::now());
        cfg_ = next;
    }

    // Forwarders that ended (UNSUB aborted them) leave the set here.
    void reap_forwarders() {
        for (;;) {
            try {
                if (!forwarders_.try_join_next()) return;
            } catch (const weft::join_error&) {
                // aborted by UNSUB: as intended
            }
        }
    }

    // Queues one line for the writer; waits while the outbox is full.
    void say(std::string line) {
        line += '\n';
        out_.send(std::move(line));
    }

    const shared& sh_;
    weft::net::tcp_read_half& in_;
    const weft::mpsc::sender<std::string>& out_;
    weft::watch::receiver<config> config_rx_;
    config cfg_;
    token_bucket bucket_;
    weft::interval refill_;
    time_point last_input_;
    bool discarding_ = false;  // skipping the rest of an over-long line
    std::optional<weft::mpsc::sender<delivery>> deliveries_tx_;  // copied into each forwarder
    std::optional<weft::mpsc::receiver<delivery>> deliveries_rx_;
    std::map<std::string, subscription, std::less<>> subs_;
    std::uint64_t next_sub_ = 1;
    weft::join_set<void> forwarders_;  // one task per subscription (forward)
};

}  // namespace

ending serve_connection(weft::net::tcp_stream stream, const shared& sh) {
    auto [in, out] = std::move(stream).split();
    auto [out_tx, out_rx] = weft::mpsc::channel<std::string>(outbox_capacity);
    writer_task writer(
        weft::spawn([w = std::move(out), rx = std::move(out_rx)]() mutable { write_loop(w, rx); }));
    ending how;
    {
        std::optional<weft::mpsc::sender<std::string>> tx(std::move(out_tx));
        {
            session s(sh, in, *tx);
            how = s.run();
        }
        tx.reset();  // the last sender: the writer drains the outbox and ends
    }
    writer.finish();
    return how;
}

}  // namespace relay
