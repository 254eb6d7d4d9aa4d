// Guide sample (docs/guide/channels-and-sync.md): mpsc, oneshot, broadcast, watch, mutex,
// semaphore, notify, barrier and cancellation_token. Snippet regions as in tasks.cpp; exits
// non-zero if something did not behave as the guide says.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

bool ok = true;
void expect(bool cond, const char* what) {
    if (!cond) {
        std::fprintf(stderr, "guide sample: unexpected: %s\n", what);
        ok = false;
    }
}

void mpsc_example() {
    // [snippet:mpsc]
    auto [tx, rx] = weft::mpsc::channel<std::string>(16);  // capacity: send waits when full
    auto producer = weft::spawn([tx = std::move(tx)] {
        for (int i = 0; i < 3; ++i) tx.send("job " + std::to_string(i));
    });  // the last sender is destroyed with the task: the channel closes
    std::vector<std::string> got;
    while (std::optional<std::string> job = rx.recv()) got.push_back(*job);  // nullopt: closed
    producer.join();
    // got == {"job 0", "job 1", "job 2"}
    // [end]
    expect(got.size() == 3 && got[2] == "job 2", "mpsc delivers in order, then closes");

    // [snippet:mpsc-closed]
    auto [tx2, rx2] = weft::mpsc::channel<int>(1);
    rx2.close();  // or destroy the receiver
    try {
        tx2.send(5);
    } catch (const weft::mpsc::send_error<int>& e) {
        // a channel_closed; e.value() == 5, the value was not lost
        expect(e.value() == 5, "send_error returns the value");
    }
    // [end]
}

void oneshot_example() {
    // [snippet:oneshot]
    auto [reply_tx, reply_rx] = weft::oneshot::channel<int>();
    weft::spawn([tx = std::move(reply_tx)]() mutable { tx.send(42); });
    int reply = reply_rx.recv();  // channel_closed if the sender is dropped unsent
    // [end]
    expect(reply == 42, "oneshot");
}

void broadcast_example() {
    // [snippet:broadcast]
    auto [tx, rx1] = weft::broadcast::channel<std::string>(4);  // keeps the last 4 values
    auto rx2 = tx.subscribe();                                  // sees values sent from now on
    tx.send("config changed");
    std::string a = rx1.recv(), b = rx2.recv();  // every receiver gets every value
    // [end]
    expect(a == b && a == "config changed", "broadcast");

    // [snippet:broadcast-lagged]
    for (int i = 0; i < 6; ++i) tx.send("tick " + std::to_string(i));  // 6 > capacity 4
    try {
        rx1.recv();
    } catch (const weft::broadcast::lagged& e) {
        // e.skipped() == 2: the two oldest values are gone for rx1
        expect(e.skipped() == 2, "lagged reports the skipped count");
    }
    std::string next = rx1.recv();  // "tick 2", the oldest value still kept
    // [end]
    expect(next == "tick 2", "after lagged, the oldest kept value");
}

void watch_example() {
    // [snippet:watch]
    auto [tx, rx] = weft::watch::channel<int>(1);  // the initial value counts as seen
    auto reader = weft::spawn([rx = std::move(rx)]() mutable {
        rx.changed();                    // waits for a value not yet seen
        return *rx.borrow_and_update();  // the latest value, marked seen
    });
    weft::sleep_for(1ms);
    tx.send(2);
    tx.send(3);                // values in between may be skipped: a watch holds only the latest
    int seen = reader.join();  // 3 (or 2, had the reader run between the sends)
    // [end]
    expect(seen == 2 || seen == 3, "watch sees a newer value");
}

void mutex_example() {
    // [snippet:mutex]
    weft::mutex m;
    std::map<std::string, int> counts;  // guarded by m
    weft::scoped([&](weft::scope& s) {
        for (int i = 0; i < 8; ++i) {
            s.spawn([&] {
                std::lock_guard lock(m);  // a waiting task suspends; its worker runs others
                ++counts["hits"];
                weft::sleep_for(100us);  // may suspend while holding a weft::mutex
            });
        }
    });
    // counts["hits"] == 8
    // [end]
    expect(counts["hits"] == 8, "mutex");
}

void semaphore_example() {
    // [snippet:semaphore]
    weft::semaphore connections(2);  // at most 2 at a time
    int active = 0, most = 0;
    weft::mutex stats;
    weft::scoped([&](weft::scope& s) {
        for (int i = 0; i < 6; ++i) {
            s.spawn([&] {
                weft::semaphore_permit p = connections.acquire();  // returned at scope exit
                {
                    std::lock_guard lock(stats);
                    most = std::max(most, ++active);
                }
                weft::sleep_for(1ms);
                std::lock_guard lock(stats);
                --active;
            });
        }
    });
    // most <= 2 (2 once two tasks overlapped, as they do unless the machine is very busy)
    // [end]
    expect(most >= 1 && most <= 2, "semaphore bounds concurrency");
}

void notify_example() {
    // [snippet:notify]
    weft::notify ready;
    auto waiter = weft::spawn([&ready] {
        ready.notified();  // waits; a notify_one before this call is stored, not lost
        return true;
    });
    ready.notify_one();
    bool woke = waiter.join();
    // [end]
    expect(woke, "notify");
}

void barrier_example() {
    // [snippet:barrier]
    weft::barrier start_line(3);
    std::atomic<int> leaders{0};
    weft::scoped([&](weft::scope& s) {
        for (int i = 0; i < 3; ++i) {
            s.spawn([&] {
                if (start_line.wait()) ++leaders;  // all 3 arrive, then all go; one is leader
            });
        }
    });
    // leaders == 1
    // [end]
    expect(leaders == 1, "barrier has one leader");
}

void token_example() {
    // [snippet:cancellation-token]
    weft::cancellation_token shutdown;
    auto worker = weft::spawn([token = shutdown.child_token()] {
        int rounds = 0;
        while (!token.is_cancelled()) {
            ++rounds;
            weft::sleep_for(1ms);
        }
        return rounds;  // a cooperative stop: the worker finishes its round and returns
    });
    weft::sleep_for(5ms);
    shutdown.cancel();  // cancels every child token too
    int rounds = worker.join();
    // [end]
    expect(rounds >= 0 && shutdown.child_token().is_cancelled(),
           "cancellation_token stops the worker; children of a cancelled token are cancelled");
}

}  // namespace

int main() {
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    rt.block_on([] {
        mpsc_example();
        oneshot_example();
        broadcast_example();
        watch_example();
        mutex_example();
        semaphore_example();
        notify_example();
        barrier_example();
        token_example();
    });
    std::printf("channels: %s\n", ok ? "all as described" : "FAILED");
    return ok ? 0 : 1;
}
