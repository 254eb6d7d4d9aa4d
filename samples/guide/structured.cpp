// Guide sample (docs/guide/timeouts-and-cancellation.md): structured concurrency: join,
// select, scoped, join_set, task_local, offload and interval. Snippet regions as in
// timeouts.cpp; exits non-zero if something did not behave as the guide says.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
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

std::string fetch_user(int id) {
    weft::sleep_for(2ms);
    return "user" + std::to_string(id);
}
int fetch_balance(int id) {
    weft::sleep_for(3ms);
    return id * 100;
}

// [snippet:task-local-decl]
constinit weft::task_local<std::string> request_id{/*inherited=*/true};
// [end]

void join_example() {
    // [snippet:join]
    auto [user, balance] =
        weft::join([] { return fetch_user(7); }, [] { return fetch_balance(7); });
    // user == "user7", balance == 700; both fetches overlapped
    // [end]
    expect(user == "user7" && balance == 700, "join");

    // [snippet:join-error]
    try {
        weft::join([] { return fetch_user(1); },
                   []() -> int { throw std::runtime_error("balance service down"); });
    } catch (const std::runtime_error& e) {
        // the fetch_user branch was cancelled and has ended; e is the branch's exception
    }
    // [end]
}

void select_example() {
    // [snippet:select]
    auto first = weft::select([] { return fetch_user(1); },  // index 0
                              [] { weft::sleep_for(1s); });  // index 1: a deadline
    if (first.index() == 0) {
        std::string user = std::get<0>(first);
        (void)user;
    }
    // the loser has been cancelled and has ended before select returned
    // [end]
    expect(first.index() == 0, "select");
}

void select_loop_example() {
    auto [tx, rx] = weft::mpsc::channel<int>(8);
    weft::cancellation_token stop;
    auto producer = weft::spawn([&tx = tx, stop] {
        for (int i = 1; i <= 3; ++i) tx.send(i);
        weft::sleep_for(20ms);
        stop.cancel();
    });
    // [snippet:select-loop]
    int handled = 0;
    auto ended = weft::select(
        [&] {
            while (rx.recv()) ++handled;
        },                           // a loop branch
        [&] { stop.cancelled(); });  // ends the select
    // ended.index() == 1: the loop gave the race back when it started its next recv
    // [end]
    producer.join();
    expect(ended.index() == 1 && handled == 3, "a loop branch gives the race back");
}

void scoped_example() {
    // [snippet:scoped]
    std::vector<int> squares(100);
    weft::scoped([&](weft::scope& s) {
        for (int i = 0; i < 100; ++i) {
            s.spawn([&squares, i] { squares[i] = i * i; });  // borrows the vector
        }
    });  // every child has ended here, so the borrow is safe
    // [end]
    expect(squares[99] == 99 * 99, "scoped");
}

void join_set_example() {
    // [snippet:join-set]
    weft::join_set<int> set;
    for (int id = 1; id <= 5; ++id) set.spawn([id] { return fetch_balance(id); });
    int total = 0;
    while (auto balance = set.join_next()) total += *balance;  // in completion order
    // total == 1500
    // [end]
    expect(total == 1500, "join_set");
}

void task_local_example() {
    // [snippet:task-local]
    request_id.scope("req-42", [] {
        auto in_branch = [] { return request_id.get(); };  // the caller's value, shared
        auto in_task = [] { return weft::spawn([] { return request_id.get(); }).join(); };
        auto [a, b] = weft::join(in_branch, in_task);  // the spawned task got a copy
        // a == b == "req-42"
        expect(a == "req-42" && b == "req-42", "task_local");
    });
    // [end]
}

void offload_example() {
    // [snippet:offload]
    std::vector<int> data(1'000'000);
    std::iota(data.begin(), data.end(), 0);
    long sum = weft::offload([&] {  // runs on the blocking pool; the task waits
        return std::accumulate(data.begin(), data.end(), 0L);
    });
    // [end]
    expect(sum == 999'999L * 1'000'000L / 2, "offload");
}

void interval_example() {
    // [snippet:interval]
    weft::interval every(10ms);
    every.set_missed_tick_behavior(weft::missed_tick_behavior::skip);
    auto start = every.tick();  // at once
    weft::sleep_for(35ms);      // a stall: the ticks at 10, 20 and 30 ms are late
    auto late = every.tick();   // at once: the tick due at 10 ms
    auto next = every.tick();   // skip: the next point on the grid, 40 ms
    // [end]
    expect(late - start == 10ms, "interval: the late tick is returned once");
    expect((next - start) % 10ms == std::chrono::nanoseconds(0) && next - start >= 40ms,
           "interval: skip keeps the grid");
}

}  // namespace

int main() {
    weft::runtime rt = weft::builder::multi_thread().worker_threads(2).build();
    rt.block_on([] {
        join_example();
        select_example();
        select_loop_example();
        scoped_example();
        join_set_example();
        task_local_example();
        offload_example();
        interval_example();
    });
    std::printf("structured: %s\n", ok ? "all as described" : "FAILED");
    return ok ? 0 : 1;
}
