// weft::fs::read / write on both backends: round trips (task, plain thread), procfs, errors;
// on io_uring, the linked open-and-read's direct slots under exhaustion and aborts.
#include "support/bounded.hpp"
#include "support/harness.hpp"

#include "../../lib/scheduler/scheduler.hpp"
#include "../../lib/scheduler/thread_context.hpp"
#include "../../lib/scheduler/uring_ring.hpp"
#include "../../lib/scheduler/worker.hpp"

#include <weft/fs.hpp>

#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

std::filesystem::path temp_path(const char* name) {
    return std::filesystem::temp_directory_path() /
           (std::string("weft-fs-test-") + std::to_string(::getpid()) + "-" + name);
}

// Both backends: a task's calls go to its worker's io_uring ring or to the blocking pool.
const weft::fs::io_backend both[] = {weft::fs::io_backend::io_uring,
                                     weft::fs::io_backend::thread_pool};

weft::runtime runtime_on(weft::fs::io_backend b, std::size_t workers = 2) {
    return weft::builder::multi_thread().worker_threads(workers).file_io(b).build();
}

}  // namespace

TEST_CASE("fs::write then fs::read round trip", "[fs]") {
    for (auto b : both) {
        INFO((b == weft::fs::io_backend::io_uring ? "io_uring" : "thread_pool"));
        auto rt = runtime_on(b);
        auto p = temp_path("round-trip");
        std::string data(1 << 20, '\0');
        for (std::size_t i = 0; i < data.size(); ++i)
            data[i] = static_cast<char>(i * 31 + (i >> 8));
        std::string back = rt.block_on([&] {
            weft::fs::write(p, data);
            return weft::fs::read(p);
        });
        CHECK(back == data);
        // On a plain thread the same calls run inline.
        weft::fs::write(p, "short");
        CHECK(weft::fs::read(p) == "short");
        // An empty file, and a file without a size (procfs).
        weft::fs::write(p, "");
        CHECK(rt.block_on([&] { return weft::fs::read(p); }).empty());
        CHECK(weft::fs::read("/proc/self/status").find("Pid:") != std::string::npos);
        // procfs in a task: size 0 and short reads mid-file, read on to the end
        std::string maps = rt.block_on([] { return weft::fs::read("/proc/self/maps"); });
        CHECK(maps.size() > 4096);
        CHECK(maps.back() == '\n');
        std::filesystem::remove(p);
    }
}

TEST_CASE("fs errors are filesystem_error naming the path", "[fs]") {
    for (auto b : both) {
        auto rt = runtime_on(b);
        auto missing = temp_path("does-not-exist");
        struct result {
            std::error_code code;
            std::string path, what;
            std::error_code write_code;
        };
        result r = rt.block_on([&] {
            result r;
            try {
                weft::fs::read(missing);
            } catch (const std::filesystem::filesystem_error& e) {
                r.code = e.code();
                r.path = e.path1().string();
                r.what = e.what();
            }
            try {
                weft::fs::write(missing / "sub" / "file", "x");
            } catch (const std::filesystem::filesystem_error& e) {
                r.write_code = e.code();
            }
            return r;
        });
        CHECK(r.code == std::errc::no_such_file_or_directory);
        CHECK(r.path == missing.string());
        CHECK(r.what.find(missing.string()) != std::string::npos);
        CHECK(r.write_code == std::errc::no_such_file_or_directory);
    }
}

TEST_CASE("fs::read of a directory is a filesystem_error naming it", "[fs]") {
    for (auto b : both) {
        INFO((b == weft::fs::io_backend::io_uring ? "io_uring" : "thread_pool"));
        auto rt = runtime_on(b);
        auto dir = std::filesystem::temp_directory_path();
        std::error_code code = rt.block_on([&] {
            try {
                weft::fs::read(dir);
            } catch (const std::filesystem::filesystem_error& e) {
                CHECK(e.path1() == dir);
                return e.code();
            }
            return std::error_code{};
        });
        CHECK(code == std::errc::is_a_directory);
    }
}

#if WEFT_TEST_IO_URING
namespace {

// FIFOs whose readers wait in open until a writer comes: each fs::read holds its ring's direct
// slot (or, once they are all taken, a plain open on the kernel's worker) for as long as the
// test wants.
struct fifo_dir {
    std::filesystem::path path = temp_path("fifos");
    std::vector<std::filesystem::path> fifos;
    explicit fifo_dir(int n) {
        std::filesystem::create_directory(path);
        for (int i = 0; i < n; ++i) {
            fifos.push_back(path / std::to_string(i));
            REQUIRE(::mkfifo(fifos.back().c_str(), 0600) == 0);
        }
    }
    ~fifo_dir() { std::filesystem::remove_all(path); }
    /// Opens each FIFO for writing as soon as its reader is there (non-blocking: ENXIO until
    /// then), writes "fifo N" and closes; gives up at `deadline`. Returns how many it served.
    std::size_t serve(std::chrono::steady_clock::time_point deadline) const {
        std::vector<bool> done(fifos.size());
        std::size_t served = 0;
        while (served < fifos.size() && std::chrono::steady_clock::now() < deadline) {
            for (std::size_t i = 0; i < fifos.size(); ++i) {
                if (done[i]) continue;
                int fd = ::open(fifos[i].c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0) continue;  // no reader yet
                std::string text = "fifo " + std::to_string(i);
                CHECK(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
                ::close(fd);
                done[i] = true;
                ++served;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return served;
    }
};

/// One task per FIFO, each reading it whole with fs::read (call from a task).
std::vector<weft::join_handle<std::string>> spawn_readers(const fifo_dir& d) {
    std::vector<weft::join_handle<std::string>> readers;
    for (const auto& f : d.fifos)
        readers.push_back(weft::spawn([&f] { return weft::fs::read(f); }));
    return readers;
}

/// Every reader's text, in order; nullopt if they did not all finish within 10 s.
std::optional<std::vector<std::string>> join_all_bounded(
    weft::runtime& rt, std::vector<weft::join_handle<std::string>>& readers) {
    return weft::test::run_bounded(std::chrono::seconds(10), [&rt, &readers] {
        return rt.block_on([&] {
            std::vector<std::string> out;
            for (auto& h : readers) out.push_back(h.join());
            return out;
        });
    });
}

/// The free direct slots of the ring of the worker a task of `rt` runs on (one worker here).
std::size_t direct_slots_free(weft::runtime& rt) {
    return rt.block_on([] {
        REQUIRE(weft::fs::backend() == weft::fs::io_backend::io_uring);  // sets the ring up
        auto* ring = weft::detail::this_thread_context().w->ring_if_set();
        REQUIRE(ring != nullptr);
        // A read's close is queued without a wait and goes out with the ring's next
        // submission (or when the worker runs out of tasks, which this task may have come
        // too soon for): send the queued ones, so the count sees every slot they free.
        ring->flush();
        return ring->direct_slots_free();
    });
}

}  // namespace

TEST_CASE("fs::read on io_uring: more reads in flight than direct slots, all delivered", "[fs]") {
    // One worker, so one ring: 300 reads waiting at once take its 256 direct slots and 44
    // plain opens. Every reader gets its FIFO's text, and every slot comes back.
    auto rt = runtime_on(weft::fs::io_backend::io_uring, 1);
    const std::size_t slots = direct_slots_free(rt);
    CHECK(slots == 256);
    fifo_dir d(300);
    std::vector<weft::join_handle<std::string>> readers;
    rt.block_on([&] { readers = spawn_readers(d); });
    CHECK(d.serve(std::chrono::steady_clock::now() + std::chrono::seconds(10)) == 300);
    auto texts = join_all_bounded(rt, readers);
    REQUIRE(texts.has_value());
    for (std::size_t i = 0; i < texts->size(); ++i)
        CHECK((*texts)[i] == "fifo " + std::to_string(i));
    CHECK(direct_slots_free(rt) == slots);
}

TEST_CASE("fs::read on io_uring: aborted or failed, the direct slot comes back", "[fs]") {
    auto rt = runtime_on(weft::fs::io_backend::io_uring, 1);
    const std::size_t slots = direct_slots_free(rt);
    fifo_dir d(40);
    std::vector<weft::join_handle<std::string>> readers;
    rt.block_on([&] {
        readers = spawn_readers(d);
        weft::sleep_for(std::chrono::milliseconds(20));  // all of them waiting for data
        for (auto& h : readers) h.abort();
    });
    // A reader's open of a FIFO completes at once (the kernel's first try is non-blocking);
    // the read waits for a writer, and the abort cancels it. A writer would end any read the
    // kernel failed to cancel.
    auto cancelled = weft::test::run_bounded(std::chrono::seconds(10), [&rt, &readers] {
        return rt.block_on([&] {
            std::size_t n = 0;
            for (auto& h : readers) {
                try {
                    h.join();
                } catch (const weft::join_error& e) {
                    n += e.is_cancelled();
                }
            }
            return n;
        });
    });
    if (!cancelled) d.serve(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    REQUIRE(cancelled.has_value());
    CHECK(*cancelled == 40);
    CHECK(direct_slots_free(rt) == slots);
    // Failed opens (a missing file) and failed reads (a directory) give theirs back too.
    auto failures = rt.block_on([&] {
        int n = 0;
        for (int i = 0; i < 300; ++i) {
            try {
                weft::fs::read(i % 2 ? d.path / "missing" : d.path);
            } catch (const std::filesystem::filesystem_error&) {
                ++n;
            }
        }
        return n;
    });
    CHECK(failures == 300);
    CHECK(direct_slots_free(rt) == slots);
    // and the ring still reads
    auto p = temp_path("after-abort");
    weft::fs::write(p, "still reads");
    CHECK(rt.block_on([&] { return weft::fs::read(p); }) == "still reads");
    std::filesystem::remove(p);
}
#endif

#if WEFT_TEST_IO_URING
TEST_CASE("fs::read on io_uring: reads that span several waits, on two workers, lose nothing",
          "[fs]") {
    // Each FIFO's text comes in three writes 2 ms apart, so a read waits several times and the
    // task may be resumed by the other worker in between (20-60 times a run, counted while the
    // test was written; one busy task keeps a worker occupied now and then, more kept both
    // too busy to steal): its later reads go to the ring that holds its slot, through that
    // ring's owner.
    auto rt = runtime_on(weft::fs::io_backend::io_uring);
    constexpr int n = 64;
    fifo_dir d(n);
    std::atomic<bool> stop{false};
    std::vector<weft::join_handle<std::string>> readers;
    std::vector<weft::join_handle<void>> busy;
    rt.block_on([&] {
        for (int i = 0; i < 1; ++i) {
            busy.push_back(weft::spawn([&stop] {
                while (!stop.load(std::memory_order_relaxed)) {
                    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
                    while (std::chrono::steady_clock::now() < until) {}
                    weft::yield_now();
                }
            }));
        }
        readers = spawn_readers(d);
    });
    std::vector<int> fds(n, -1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int opened = 0; opened < n && std::chrono::steady_clock::now() < deadline;) {
        for (int i = 0; i < n; ++i) {
            if (fds[i] < 0) {
                fds[i] = ::open(d.fifos[i].c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                opened += fds[i] >= 0;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (int piece = 0; piece < 3; ++piece) {
        for (int i = 0; i < n; ++i) {
            if (fds[i] < 0) continue;
            std::string text = "[" + std::to_string(i) + ":" + std::to_string(piece) + "]";
            CHECK(::write(fds[i], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    for (int fd : fds) {
        if (fd >= 0) ::close(fd);
    }
    auto texts = join_all_bounded(rt, readers);
    stop = true;
    rt.block_on([&] {
        for (auto& h : busy) h.join();
    });
    REQUIRE(texts.has_value());
    for (int i = 0; i < n; ++i) {
        std::string want;
        for (int piece = 0; piece < 3; ++piece)
            want += "[" + std::to_string(i) + ":" + std::to_string(piece) + "]";
        CHECK((*texts)[static_cast<std::size_t>(i)] == want);
    }
    // Every slot of both rings is free again: each ring counted by a handler on its own
    // worker (only the owner touches a ring), a few times while the last closes go out.
    auto& sched = *rt.block_on([] { return &weft::detail::this_thread_context().w->sched(); });
    std::size_t free_total = 0;
    for (int round = 0; round < 100 && free_total != 2 * 256; ++round) {
        free_total = 0;
        for (std::size_t w = 0; w < sched.num_workers(); ++w) {
            std::promise<std::size_t> count;
            auto got = count.get_future();
            boost::asio::post(sched.worker_at(w).io(), [&sched, w, &count] {
                auto* ring = sched.worker_at(w).ring_if_set();
                count.set_value(ring != nullptr ? ring->direct_slots_free() : 256);
            });
            REQUIRE(got.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
            free_total += got.get();
        }
        if (free_total != 2 * 256) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(free_total == 2 * 256);
}
#endif
