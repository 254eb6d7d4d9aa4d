// Channel stress: many messages with exact sums, and abort storms against parked senders and
// receivers (fiber and Asio forms) with message conservation checked. Sizes scale with
// WEFT_STRESS_SCALE; every wait is bounded by the test watchdog.
#include "channel/channel_test_util.hpp"

#include <weft/channel.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST_CASE("stress: 4 producers x 1M messages through a bounded mpsc, exact sum",
          "[channel][stress]") {
    auto rt = weft::test::make_runtime();
    const std::uint64_t per = weft::test::scaled(1'000'000);
    constexpr std::uint64_t producers = 4;
    for (std::size_t cap : {std::size_t{1024}, std::size_t{3}}) {
        auto [sum, count] = rt.block_on([&] {
            auto [tx, rx] = weft::mpsc::channel<std::uint64_t>(cap);
            for (std::uint64_t p = 0; p < producers; ++p) {
                weft::spawn([tx = tx, p, per] {
                    for (std::uint64_t i = 0; i < per; ++i) tx.send(p * per + i);
                });
            }
            { auto drop = std::move(tx); }
            std::uint64_t s = 0, n = 0;
            std::vector<std::uint64_t> batch;
            // Alternate recv and recv_many so both paths carry load.
            for (;;) {
                if (n % 2 == 0) {
                    auto v = rx.recv();
                    if (!v) break;
                    s += *v;
                    ++n;
                } else {
                    batch.clear();
                    if (rx.recv_many(batch, 64) == 0) break;
                    for (auto v : batch) s += v;
                    n += batch.size();
                }
            }
            return std::make_pair(s, n);
        });
        const std::uint64_t total = producers * per;
        CHECK(count == total);
        CHECK(sum == total * (total - 1) / 2);
    }
}

TEST_CASE("stress: abort storm against parked senders and receivers conserves messages",
          "[channel][stress][abort]") {
    auto rt = weft::test::make_runtime();
    const int rounds = static_cast<int>(weft::test::scaled(3000));
    struct totals {
        std::uint64_t sent_sum = 0, sent_n = 0, recv_sum = 0, recv_n = 0, aborts = 0;
    };
    auto t = rt.block_on([&] {
        auto [tx, rx] = weft::mpsc::channel<std::uint64_t>(4);
        std::atomic<std::uint64_t> sent_sum{0}, sent_n{0}, recv_sum{0}, recv_n{0};
        std::atomic<std::uint64_t> next_id{1};
        totals out;
        auto spawn_sender = [&] {
            return weft::spawn([&, tx = tx] {
                for (;;) {
                    std::uint64_t v = next_id.fetch_add(1);
                    tx.send(v);
                    // No cancellation point between send and here: a send that returned is
                    // always counted, one that threw never is.
                    sent_sum += v;
                    sent_n += 1;
                }
            });
        };
        auto spawn_receiver = [&] {
            return weft::spawn([&] {
                for (;;) {
                    std::optional<std::uint64_t> v = rx.recv();
                    if (!v) return;
                    recv_sum += *v;
                    recv_n += 1;
                }
            });
        };
        auto stop = [&](weft::join_handle<void>& h) {
            h.abort();
            try {
                h.join();
            } catch (const weft::join_error& e) {
                if (e.is_cancelled()) ++out.aborts;
            }
        };
        std::vector<weft::join_handle<void>> senders;
        for (int i = 0; i < 6; ++i) senders.push_back(spawn_sender());
        auto receiver = spawn_receiver();
        std::minstd_rand rng(7);
        for (int r = 0; r < rounds; ++r) {
            int pause = static_cast<int>(rng() % 4);
            for (int k = 0; k < pause; ++k) weft::yield_now();
            if (rng() % 3 == 0) {
                stop(receiver);  // often parked in recv
                receiver = spawn_receiver();
            } else {
                auto& s = senders[rng() % senders.size()];
                stop(s);  // often parked in send on the full buffer
                s = spawn_sender();
            }
        }
        for (auto& s : senders) stop(s);
        stop(receiver);
        // No sender runs any more: what is still buffered is the rest.
        while (auto v = rx.try_recv()) {
            recv_sum += *v;
            recv_n += 1;
        }
        out.sent_sum = sent_sum.load();
        out.sent_n = sent_n.load();
        out.recv_sum = recv_sum.load();
        out.recv_n = recv_n.load();
        return out;
    });
    CHECK(t.sent_n > 0);
    CHECK(t.aborts > 0);
    CHECK(t.recv_n == t.sent_n);
    CHECK(t.recv_sum == t.sent_sum);
}

TEST_CASE("stress: Asio receivers cancelled by timer races conserve messages",
          "[channel][stress][abort][asio]") {
    auto rt = weft::test::make_runtime();
    const std::uint64_t total = weft::test::scaled(20000);
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<std::uint64_t>(2);
    std::uint64_t recv_sum = 0, recv_n = 0, timeouts = 0;
    bool closed = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            std::minstd_rand rng(11);
            for (;;) {
                asio::steady_timer timer(ioc, std::chrono::microseconds(rng() % 50));
                // A parallel group reports both results: a recv that completed although the
                // timer won (cancelled too late) still delivers its value (operator|| would
                // drop it, by design). The group emits cancellation from the timer's
                // completion, on ioc: the recv's handler is bound to ioc too, so its
                // completion is serialised with that emit (Asio's rule for slots).
                auto [order, rec, v, tec] =
                    co_await asio::experimental::make_parallel_group(
                        rx.async_recv(asio::bind_executor(ioc, asio::deferred)),
                        timer.async_wait(asio::deferred))
                        .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
                (void)order;
                (void)tec;
                if (rec == weft::error::channel_closed) break;
                if (!rec) {
                    recv_sum += v;
                    ++recv_n;
                } else if (rec == asio::error::operation_aborted) {
                    ++timeouts;  // the recv was cancelled: it must have consumed nothing
                }
            }
            closed = true;
        },
        asio::detached);
    auto producer = rt.spawn([tx = std::move(tx), total] {
        for (std::uint64_t i = 1; i <= total; ++i) {
            tx.send(i);
            if (i % 16 == 0) weft::sleep_for(std::chrono::microseconds(20));
        }
    });
    CHECK(weft::test::run_until(
        ioc, [&] { return closed; }, 60s));
    producer.join();
    CHECK(recv_n == total);
    CHECK(recv_sum == total * (total + 1) / 2);
    CHECK(timeouts > 0);
}

TEST_CASE("stress: Asio senders cancelled while parked conserve messages",
          "[channel][stress][abort][asio]") {
    auto rt = weft::test::make_runtime();
    const std::uint64_t rounds = weft::test::scaled(5000);
    asio::io_context ioc;
    auto [tx, rx] = weft::mpsc::channel<std::uint64_t>(1);
    std::uint64_t sent_sum = 0, sent_n = 0, aborted = 0, finished = 0;
    // Each round starts an async_send and cancels it right away; whichever wins, the value is
    // either in the channel (counted as sent) or back in the handler (aborted).
    for (std::uint64_t i = 1; i <= rounds; ++i) {
        auto sig = std::make_shared<asio::cancellation_signal>();
        tx.async_send(i,
                      asio::bind_cancellation_slot(
                          sig->slot(),
                          asio::bind_executor(ioc, [&, i, sig](boost::system::error_code ec,
                                                               std::optional<std::uint64_t> back) {
                              ++finished;
                              if (!ec) {
                                  sent_sum += i;
                                  ++sent_n;
                              } else if (ec == asio::error::operation_aborted && back == i) {
                                  ++aborted;
                              }
                          })));
        if (i % 3 != 0) asio::post(ioc, [sig] { sig->emit(asio::cancellation_type::terminal); });
        if (i % 64 == 0) ioc.poll();
    }
    auto consumer = rt.spawn([&rx] {
        std::uint64_t s = 0, n = 0;
        while (auto v = rx.recv()) {
            s += *v;
            ++n;
        }
        return std::make_pair(s, n);
    });
    CHECK(weft::test::run_until(
        ioc, [&] { return finished == rounds; }, 60s));
    { auto drop = std::move(tx); }
    auto [s, n] = consumer.join();
    CHECK(finished == rounds);
    CHECK(aborted > 0);
    CHECK(n == sent_n);
    CHECK(s == sent_sum);
    CHECK(n + aborted == rounds);
}
