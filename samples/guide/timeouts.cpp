// Guide sample (docs/guide/timeouts-and-cancellation.md): cancellation and timeouts. Each
// `// [snippet:NAME]` ... `// [end]` region is quoted by the guide; the program runs them all
// and exits non-zero if one did not behave as the guide says.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

bool ok = true;
void expect(bool cond, const char* what) {
    if (!cond) {
        std::fprintf(stderr, "guide sample: unexpected: %s\n", what);
        ok = false;
    }
}

std::string lookup(std::chrono::milliseconds latency) {
    weft::sleep_for(latency);
    return "value";
}

struct connection {
    bool* closed;
    ~connection() { *closed = true; }
};

void abort_and_unwind() {
    // [snippet:abort]
    bool closed = false;
    auto h = weft::spawn([&] {
        connection c{&closed};
        weft::sleep_for(1h);  // a cancellation point: the abort strikes here
    });
    weft::sleep_for(5ms);
    h.abort();
    try {
        h.join();
    } catch (const weft::join_error& e) {
        // e.is_cancelled(); the task unwound, so ~connection ran: closed == true
        expect(e.is_cancelled() && closed, "an aborted task unwinds");
    }
    // [end]
}

void shield_cleanup() {
    // [snippet:shield]
    bool flushed = false;
    auto h = weft::spawn([&] {
        try {
            weft::sleep_for(1h);
        } catch (const weft::task_cancelled&) {
            weft::this_task::shield s;  // cancellation points inside do not throw
            weft::sleep_for(2ms);       // e.g. flush a buffer, say goodbye to a peer
            flushed = true;
            throw;  // let the task end as cancelled
        }
    });
    weft::sleep_for(5ms);
    h.abort();
    try {
        h.join();
    } catch (const weft::join_error&) {}
    // flushed == true
    // [end]
    expect(flushed, "a shield lets cleanup suspend");
}

void timeout_basic() {
    // [snippet:timeout]
    std::string v = weft::timeout(500ms, [] { return lookup(1ms); });  // "value"
    try {
        weft::timeout(10ms, [] { return lookup(1h); });
    } catch (const weft::elapsed&) {
        // the lookup was cancelled at its sleep and unwound before elapsed was thrown
    }
    // [end]
    expect(v == "value", "timeout returns f's value");
}

void timeout_nested() {
    // [snippet:nested]
    std::string who;
    try {
        weft::timeout(20ms, [&] {  // the request's budget
            try {
                weft::timeout(1s, [] {  // one attempt's budget
                    weft::sleep_for(1h);
                });
            } catch (const weft::elapsed&) {
                who = "attempt";  // not reached: the 20 ms deadline is not ours
                throw;
            }
        });
    } catch (const weft::elapsed&) {
        who = "request";
    }
    // who == "request"
    // [end]
    expect(who == "request", "an outer deadline is reported by the outer timeout");
}

void timeout_retry() {
    // [snippet:retry]
    int attempts = 0;
    std::string reply;
    for (;;) {
        ++attempts;
        try {
            reply = weft::timeout(20ms, [&] { return lookup(attempts < 3 ? 1h : 1ms); });
            break;
        } catch (const weft::elapsed&) {
            weft::sleep_for(1ms);  // back off; the task may suspend inside a catch, too
        }
    }
    // attempts == 3
    // [end]
    expect(attempts == 3 && reply == "value", "retry after elapsed");
}

void cancel_safe_join() {
    // [snippet:cancel-safe]
    auto worker = weft::spawn([] { return lookup(30ms); });
    try {
        weft::timeout(5ms, [&] { return worker.join(); });
    } catch (const weft::elapsed&) {
        // join is cancel-safe: the handle still owns the result
    }
    std::string later = worker.join();  // "value"
    // [end]
    expect(later == "value", "join is cancel-safe");
}

}  // namespace

int main() {
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    rt.block_on([] {
        abort_and_unwind();
        shield_cleanup();
        timeout_basic();
        timeout_nested();
        timeout_retry();
        cancel_safe_join();
    });
    std::printf("timeouts: %s\n", ok ? "all as described" : "FAILED");
    return ok ? 0 : 1;
}
