// weft::fs::file on both backends: every case runs once on a runtime whose file calls go to
// the workers' io_uring rings and once on one that sends them to the blocking pool. The bad
// inputs (missing file, permission denied, a directory, reads past the end, a file truncated
// under a reader, no descriptors left) each end in a clear error and lose nothing; an abort
// during a read that cannot finish (a FIFO with no writer) ends the task on io_uring and
// consumes nothing. Both backends report what the system call itself reports (a plain
// thread's inline call is the reference), and an open of a FIFO for writing waits for a
// reader on both.
#include "support/bounded.hpp"
#include "support/fd_exhaustion.hpp"
#include "support/harness.hpp"

#include <weft/asio.hpp>
#include <weft/channel.hpp>
#include <weft/detail/fault_injection.hpp>
#include <weft/fs.hpp>
#include <weft/runtime.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
namespace fsys = std::filesystem;

namespace {

// A fresh directory per test case, removed at the end.
struct temp_dir {
    fsys::path path;
    temp_dir() {
        static std::atomic<int> n{0};
        path = fsys::temp_directory_path() /
               ("weft-file-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        fsys::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fsys::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
    return s;
}

weft::runtime runtime_on(weft::fs::io_backend b) {
    return weft::builder::multi_thread().worker_threads(2).file_io(b).build();
}

// Which backends the cases run on. With io_uring in the build, the io_uring runtime must
// really use it: a kernel that refuses rings would otherwise turn half of this file into a
// second run of the pool cases.
std::vector<weft::fs::io_backend> backends() {
    return {weft::fs::io_backend::io_uring, weft::fs::io_backend::thread_pool};
}

weft::fs::io_backend expected(weft::fs::io_backend asked) {
#if WEFT_TEST_IO_URING
    return asked;
#else
    (void)asked;
    return weft::fs::io_backend::thread_pool;
#endif
}

const char* name(weft::fs::io_backend b) {
    return b == weft::fs::io_backend::io_uring ? "io_uring" : "thread_pool";
}

template <class E>
bool code_is(const E& e, std::errc c) {
    return e.code() == c;  // an errno error_code against a portable condition
}

/// A FIFO named "fifo" in `d`.
fsys::path make_fifo(const temp_dir& d) {
    fsys::path fifo = d.path / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    return fifo;
}

/// How the task behind `h` ended: "returned", "cancelled", or what it failed with; nullopt
/// when it did not end within 5 s.
template <class T>
std::optional<std::string> ending_of(weft::runtime& rt, weft::join_handle<T>& h) {
    return weft::test::run_bounded(5000ms, [&rt, &h] {
        return rt.block_on([&h] {
            try {
                (void)h.join();
                return std::string("returned");
            } catch (const weft::join_error& e) {
                return e.is_cancelled() ? std::string("cancelled") : std::string(e.what());
            }
        });
    });
}

}  // namespace

TEST_CASE("file: the backend a runtime asked for is the one its tasks use", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        auto rt = runtime_on(b);
        CHECK(rt.block_on([] { return weft::fs::backend(); }) == expected(b));
        // every worker answers the same (each has its own ring)
        std::vector<weft::join_handle<weft::fs::io_backend>> hs;
        for (int i = 0; i < 16; ++i) hs.push_back(rt.spawn([] { return weft::fs::backend(); }));
        for (auto& h : hs) CHECK(rt.block_on([&h] { return h.join(); }) == expected(b));
    }
    CHECK_THROWS_AS(weft::fs::backend(), std::logic_error);  // a plain thread has none
}

TEST_CASE("file: write, sync, read back at offsets and at the position", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        auto rt = runtime_on(b);
        fsys::path p = dir.path / "data";
        std::string data = pattern(300'000, 1);
        rt.block_on([&] {
            auto f = weft::fs::file::create(p);
            f.write_all(boost::asio::buffer(data));
            f.sync_all();
            f.sync_data();
            CHECK(f.size() == data.size());
            CHECK(f.position() == data.size());
            f.close();
            CHECK_FALSE(f.is_open());

            auto r = weft::fs::file::open(p);
            std::string got(4096, '\0');
            r.read_exact_at(100'000, boost::asio::buffer(got));
            CHECK(got == data.substr(100'000, 4096));
            CHECK(r.position() == 0);  // positional reads leave the position alone

            std::string all;
            std::array<char, 65536> buf{};
            for (;;) {
                std::size_t n = r.read_some(boost::asio::buffer(buf));
                if (n == 0) break;
                all.append(buf.data(), n);
            }
            CHECK(all == data);
            CHECK(r.seek(10) == 10);
            std::string ten(10, '\0');
            r.read_exact(boost::asio::buffer(ten));
            CHECK(ten == data.substr(10, 10));
        });
        CHECK(weft::fs::read(p) == data);  // and from a plain thread, inline
    }
}

TEST_CASE("file: open_options append, create_new, truncate and set_len", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        auto rt = runtime_on(b);
        fsys::path p = dir.path / "log";
        rt.block_on([&] {
            {
                auto f = weft::fs::open_options().append(true).create(true).open(p);
                f.write_all(boost::asio::buffer(std::string("one\n")));
            }
            {
                auto f = weft::fs::open_options().append(true).open(p);
                f.write_all(boost::asio::buffer(std::string("two\n")));
                // positional writes on an O_APPEND file still append on Linux: not used here
            }
            CHECK(weft::fs::read(p) == "one\ntwo\n");
            try {
                weft::fs::open_options().write(true).create_new(true).open(p);
                FAIL("create_new opened an existing file");
            } catch (const fsys::filesystem_error& e) {
                CHECK(code_is(e, std::errc::file_exists));
                CHECK(e.path1() == p);
            }
            {
                auto f = weft::fs::open_options().read(true).write(true).open(p);
                f.set_len(3);
                CHECK(f.size() == 3);
                f.write_all_at(3, boost::asio::buffer(std::string("!")));
            }
            CHECK(weft::fs::read(p) == "one!");
            weft::fs::open_options().write(true).truncate(true).open(p);
            CHECK(weft::fs::read(p).empty());
        });
    }
}

TEST_CASE("file: refused open_options combinations name the conflict", "[fs][file]") {
    auto refused = [](const weft::fs::open_options& o, const char* word) {
        try {
            (void)o.flags();
            FAIL("accepted");
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find(word) != std::string::npos);
        }
    };
    refused(weft::fs::open_options(), "no access mode");
    refused(weft::fs::open_options().read(true).truncate(true), "truncate needs write");
    refused(weft::fs::open_options().append(true).write(true).truncate(true), "append");
    refused(weft::fs::open_options().read(true).create(true), "create needs write");
    CHECK_THROWS_AS(
        weft::builder::multi_thread().file_io(static_cast<weft::fs::io_backend>(7)).build(),
        std::invalid_argument);
}

TEST_CASE("file: bad input is a filesystem_error naming the path", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        auto rt = runtime_on(b);
        fsys::path missing = dir.path / "missing";
        fsys::path sub = dir.path / "a-directory";
        fsys::create_directory(sub);
        rt.block_on([&] {
            try {
                weft::fs::file::open(missing);
                FAIL("opened a missing file");
            } catch (const fsys::filesystem_error& e) {
                CHECK(code_is(e, std::errc::no_such_file_or_directory));
                CHECK(e.path1() == missing);
                CHECK(std::string(e.what()).find("missing") != std::string::npos);
            }
            try {
                weft::fs::read(missing);
                FAIL("read a missing file");
            } catch (const fsys::filesystem_error& e) {
                CHECK(code_is(e, std::errc::no_such_file_or_directory));
            }
            // a directory opens for reading, but reading it is EISDIR
            auto d = weft::fs::file::open(sub);
            std::array<char, 16> buf{};
            try {
                (void)d.read_some(boost::asio::buffer(buf));
                FAIL("read a directory");
            } catch (const fsys::filesystem_error& e) {
                CHECK(code_is(e, std::errc::is_a_directory));
                CHECK(e.path1() == sub);
            }
            try {
                weft::fs::file::create(sub);
                FAIL("created over a directory");
            } catch (const fsys::filesystem_error& e) {
                CHECK(code_is(e, std::errc::is_a_directory));
            }
            // a closed file: EBADF, not a crash
            auto f = weft::fs::file::create(dir.path / "x");
            f.close();
            CHECK_THROWS_AS(f.read_some(boost::asio::buffer(buf)), fsys::filesystem_error);
        });
    }
}

TEST_CASE("file: permission denied is reported, not a crash", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        fsys::path secret = dir.path / "secret";
        weft::fs::write(secret, "x");
        ::chmod(secret.c_str(), 0600);
        // Every thread of this runtime acts as "nobody" for file access (setfsuid drops the
        // capability that lets root open anything), so root running the suite is refused too.
        auto rt = weft::builder::multi_thread()
                      .worker_threads(2)
                      .file_io(b)
                      .on_thread_start([] { ::setfsuid(65534); })
                      .build();
        int err = rt.block_on([&] {
            try {
                weft::fs::file::open(secret);
                return 0;
            } catch (const fsys::filesystem_error& e) {
                CHECK(e.path1() == secret);
                return e.code().value();
            }
        });
        CHECK(err == EACCES);
    }
}

TEST_CASE("file: reads past the end, and a file truncated under its reader", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        auto rt = runtime_on(b);
        fsys::path p = dir.path / "shrinks";
        std::string data = pattern(65536, 2);
        weft::fs::write(p, data);
        rt.block_on([&] {
            auto r = weft::fs::file::open(p);
            std::array<char, 4096> buf{};
            CHECK(r.read_some_at(65536, boost::asio::buffer(buf)) == 0);
            CHECK(r.read_some_at(1'000'000, boost::asio::buffer(buf)) == 0);
            CHECK(r.read_some_at(65536 - 10, boost::asio::buffer(buf)) == 10);
            // another handle truncates the file while `r` is open
            weft::fs::open_options().write(true).open(p).set_len(1000);
            CHECK(r.size() == 1000);
            try {
                r.read_exact_at(0, boost::asio::buffer(buf));
                FAIL("read_exact_at read past the end");
            } catch (const boost::system::system_error& e) {
                CHECK(e.code() == boost::asio::error::eof);
                CHECK(std::string(e.what()).find("after 1000 of 4096") != std::string::npos);
            }
            // what is left is intact
            std::string head(1000, '\0');
            r.read_exact_at(0, boost::asio::buffer(head));
            CHECK(head == data.substr(0, 1000));
        });
    }
}

TEST_CASE("file: no descriptors left is EMFILE, and the runtime recovers", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        fsys::path p = dir.path / "f";
        weft::fs::write(p, "abc");
        auto rt = runtime_on(b);
        // set the rings up first: they need descriptors of their own
        CHECK(rt.block_on([] { return weft::fs::backend(); }) == expected(b));
        for (int i = 0; i < 8; ++i) (void)rt.block_on([] { return weft::fs::backend(); });
        int err = 0;
        {
            weft::test::fd_exhaustion full;
            err = rt.block_on([&] {
                try {
                    weft::fs::file::open(p);
                    return 0;
                } catch (const fsys::filesystem_error& e) {
                    CHECK(e.path1() == p);
                    return e.code().value();
                }
            });
        }
        CHECK(err == EMFILE);
        CHECK(rt.block_on([&] { return weft::fs::read(p); }) == "abc");
    }
}

TEST_CASE("file: 64 tasks write and read disjoint regions, nothing lost", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        auto rt = runtime_on(b);
        fsys::path p = dir.path / "shared";
        constexpr std::size_t tasks = 64;
        constexpr std::size_t chunk = 8192;
        rt.block_on([&] {
            auto f = weft::fs::open_options().read(true).write(true).create(true).open(p);
            std::vector<weft::join_handle<bool>> hs;
            for (std::size_t i = 0; i < tasks; ++i) {
                hs.push_back(weft::spawn([&f, i] {
                    std::string mine = pattern(chunk, static_cast<unsigned>(i));
                    f.write_all_at(i * chunk, boost::asio::buffer(mine));
                    weft::yield_now();
                    std::string back(chunk, '\0');
                    f.read_exact_at(i * chunk, boost::asio::buffer(back));
                    return back == mine;
                }));
            }
            std::size_t ok = 0;
            for (auto& h : hs) ok += h.join() ? 1 : 0;
            CHECK(ok == tasks);
            CHECK(f.size() == tasks * chunk);
        });
        std::string all = weft::fs::read(p);
        REQUIRE(all.size() == tasks * chunk);
        for (std::size_t i = 0; i < tasks; ++i) {
            CHECK(all.compare(i * chunk, chunk, pattern(chunk, static_cast<unsigned>(i))) == 0);
        }
    }
}

TEST_CASE("file: an abort during a read that cannot finish", "[fs][file]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        fsys::path fifo = make_fifo(dir);
        auto rt = runtime_on(b);
        // read and write: opening a FIFO so does not wait for a peer
        auto f =
            rt.block_on([&] { return weft::fs::open_options().read(true).write(true).open(fifo); });
        std::atomic<bool> reading{false};
        auto reader = rt.spawn([&] {
            std::array<char, 8> buf{};
            reading = true;
            return f.read_some(boost::asio::buffer(buf));  // nothing will ever be written
        });
        auto wait_until = [](auto pred) {
            auto end = std::chrono::steady_clock::now() + 5s;
            while (!pred() && std::chrono::steady_clock::now() < end)
                std::this_thread::sleep_for(1ms);
            return pred();
        };
        REQUIRE(wait_until([&] { return reading.load(); }));
        std::this_thread::sleep_for(20ms);  // let the read reach the kernel
        reader.abort();
        if (expected(b) == weft::fs::io_backend::thread_pool) {
            // The pool's read(2) cannot be interrupted: the task waits for it, as documented,
            // and one byte ends it. A read that completed returns its byte (delivered, not
            // lost); the abort shows at the next cancellation point, after the task's body.
            std::this_thread::sleep_for(50ms);
            CHECK_FALSE(reader.is_finished());
            REQUIRE(::write(f.native_handle(), "x", 1) == 1);
            auto r = weft::test::run_bounded(5000ms, [&rt, &reader] {
                return rt.block_on([&reader] {
                    try {
                        return static_cast<int>(reader.join());
                    } catch (const weft::join_error& e) {
                        return e.is_cancelled() ? -1 : -2;
                    }
                });
            });
            REQUIRE(r.has_value());
            CHECK(*r == 1);  // the read completed with the byte: returned, not dropped
        } else {
            // io_uring cancels the read: the task ends without anyone writing.
            auto r = ending_of(rt, reader);
            REQUIRE(r.has_value());
            CHECK(*r == "cancelled");
            // the cancelled read consumed nothing: a byte written now is read by the next reader
            REQUIRE(::write(f.native_handle(), "y", 1) == 1);
            char c = 0;
            CHECK(rt.block_on([&] { return f.read_some(boost::asio::buffer(&c, 1)); }) == 1);
            CHECK(c == 'y');
        }
    }
}

TEST_CASE("file: read_some in a select branch reads only once the branch has won",
          "[fs][file][select]") {
    // A read moves the file's position, so bytes a losing branch read would go with its
    // abort. The winner takes its value first and yields; the losing read runs meanwhile and
    // must take nothing: the next read finds the same bytes. (Shuffle mode may start the read
    // first: it then wins with them.) On a FIFO with nothing in it the read waits without
    // holding the race, so a sibling that returns wins.
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        fsys::path fifo = make_fifo(dir);
        fsys::path plain = dir.path / "plain";
        {
            std::FILE* out = std::fopen(plain.c_str(), "w");
            REQUIRE(out != nullptr);
            std::fputs("abcd", out);
            std::fclose(out);
        }
        auto rt = weft::builder::current_thread().file_io(b).build();
        rt.block_on([&] {
            auto bytes_kept = [](weft::fs::file& f) {
                auto [tx, rx] = weft::mpsc::channel<int>(1);
                tx.send(1);
                std::array<char, 4> buf{};
                auto r = weft::select_biased(
                    [&rx = rx] {
                        auto v = rx.recv();  // claims the race
                        weft::yield_now();   // the read runs now
                        return v;
                    },
                    [&] { return f.read_some(boost::asio::buffer(buf)); });
                if (r.index() == 1)
                    return std::get<1>(r) == 4 && std::string(buf.data(), 4) == "abcd";
                std::array<char, 4> again{};
                std::size_t n = f.read_some(boost::asio::buffer(again));
                return n == 4 && std::string(again.data(), 4) == "abcd";
            };
            auto file = weft::fs::file::open(plain);
            CHECK(bytes_kept(file));
            auto pipe = weft::fs::open_options().read(true).write(true).open(fifo);
            REQUIRE(::write(pipe.native_handle(), "abcd", 4) == 4);
            CHECK(bytes_kept(pipe));
        });
        // The FIFO is empty now. A plain thread writes a byte after 3 s, so that a read that
        // held the race (or sat in the pool's read(2)) still ends.
        auto pipe =
            rt.block_on([&] { return weft::fs::open_options().read(true).write(true).open(fifo); });
        std::thread late([fd = pipe.native_handle()] {
            std::this_thread::sleep_for(3s);
            (void)!::write(fd, "z", 1);
        });
        auto t0 = std::chrono::steady_clock::now();
        auto r = rt.block_on([&] {
            char c = 0;
            return weft::select([&] { return pipe.read_some(boost::asio::buffer(&c, 1)); },
                                [] {
                                    weft::sleep_for(20ms);
                                    return 2;
                                });
        });
        auto took = std::chrono::steady_clock::now() - t0;
        late.join();
        CHECK(r.index() == 1);
        CHECK(took < 2s);
    }
}

TEST_CASE("file: both backends report what the system call itself reports", "[fs][file]") {
    // Each call runs three ways: on a plain thread (the system call itself, inline), in a task
    // on io_uring and in a task on the pool; its outcome (the data, or the error code) must be
    // the same all three times. A backend that tries a call its own way first (io_uring's
    // non-blocking open) must not let that show. (Calls that would block, a FIFO whose other
    // end is not open, are the next test's: there the outcome is the wait.)
    temp_dir dir;
    const fsys::path data = dir.path / "data";
    const fsys::path sub = dir.path / "dir";
    const fsys::path loop = dir.path / "loop";
    const fsys::path fifo = make_fifo(dir);
    weft::fs::write(data, "abc");  // a plain thread: inline
    fsys::create_directory(sub);
    fsys::create_symlink(loop, loop);
    // Both ends held open for the whole test, so neither direction's open waits.
    const int fifo_reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(fifo_reader >= 0);
    const int fifo_writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(fifo_writer >= 0);

    auto opened = [](weft::fs::file f) { return std::string(f.is_open() ? "open" : "closed"); };
    const std::vector<std::pair<std::string, std::function<std::string()>>> calls = {
        {"read a file", [&] { return weft::fs::read(data); }},
        {"read a missing file", [&] { return weft::fs::read(dir.path / "missing"); }},
        {"read a directory", [&] { return weft::fs::read(sub); }},
        {"read a symlink loop", [&] { return weft::fs::read(loop); }},
        {"read under a file", [&] { return weft::fs::read(data / "x"); }},
        {"read a name too long", [&] { return weft::fs::read(sub / std::string(300, 'n')); }},
        {"open a directory for writing",
         [&] { return opened(weft::fs::open_options().write(true).open(sub)); }},
        {"create_new an existing file",
         [&] { return opened(weft::fs::open_options().write(true).create_new(true).open(data)); }},
        {"open a missing file for writing without create",
         [&] { return opened(weft::fs::open_options().write(true).open(dir.path / "none")); }},
        {"open a FIFO for writing",
         [&] { return opened(weft::fs::open_options().write(true).open(fifo)); }},
        {"open a FIFO for reading", [&] { return opened(weft::fs::file::open(fifo)); }},
        {"open a FIFO for reading and writing",
         [&] { return opened(weft::fs::open_options().read(true).write(true).open(fifo)); }},
        {"read /dev/null", [&] { return weft::fs::read("/dev/null"); }},
    };
    auto outcome = [](const std::function<std::string()>& f) -> std::string {
        try {
            return "ok: " + f();
        } catch (const fsys::filesystem_error& e) {
            return "error " + std::to_string(e.code().value()) + " (" + e.code().message() + ")";
        }
    };
    std::vector<std::string> reference;
    for (const auto& c : calls) reference.push_back(outcome(c.second));
    for (auto b : backends()) {
        auto rt = runtime_on(b);
        auto got = rt.block_on([&] {
            std::vector<std::string> out;
            for (const auto& c : calls) out.push_back(outcome(c.second));
            return out;
        });
        for (std::size_t i = 0; i < calls.size(); ++i) {
            INFO(name(b) << ": " << calls[i].first);
            CHECK(got[i] == reference[i]);
        }
    }
    ::close(fifo_writer);
    ::close(fifo_reader);
}

TEST_CASE("file: opening a FIFO for writing waits for a reader, as open(2) does", "[fs][file]") {
    // On io_uring the kernel's first try of an open does not block, and for a FIFO with no
    // reader it fails with ENXIO (where open(2) waits): the open goes again to the kernel's
    // workers, which wait. An abort while it waits ends it (the kernel interrupts its worker:
    // EINTR, which is the abort, not an error); on the pool the open(2) runs to its end.
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        fsys::path fifo = make_fifo(dir);
        auto rt = runtime_on(b);
        auto writer = rt.spawn([&fifo] {
            auto f = weft::fs::open_options().write(true).open(fifo);
            f.write_all(boost::asio::buffer(std::string_view("through the fifo")));
            return true;
        });
        std::this_thread::sleep_for(50ms);
        CHECK_FALSE(writer.is_finished());  // no reader yet: the open waits
        int rd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(rd >= 0);
        auto ok = weft::test::run_bounded(
            5000ms, [&rt, &writer] { return rt.block_on([&writer] { return writer.join(); }); });
        REQUIRE(ok.has_value());
        CHECK(*ok);
        std::array<char, 64> buf{};
        ssize_t n = ::read(rd, buf.data(), buf.size());
        ::close(rd);
        CHECK(std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0) ==
              "through the fifo");

        if (expected(b) != weft::fs::io_backend::io_uring) continue;
        auto waiting = rt.spawn([&fifo] {
            (void)weft::fs::open_options().write(true).open(fifo);
            return true;
        });
        std::this_thread::sleep_for(50ms);  // the open waits on a kernel worker
        CHECK_FALSE(waiting.is_finished());
        waiting.abort();
        auto r = ending_of(rt, waiting);
        // A reader ends an open that no abort reached.
        if (!r) ::close(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
        REQUIRE(r.has_value());
        CHECK(*r == "cancelled");  // not a failure: EINTR, or the kernel's ERESTARTSYS
    }
}

TEST_CASE("file: a ring the kernel refuses falls back to the blocking pool", "[fs][file]") {
    weft::detail::fault::reset_on_exit reset;
    // every worker's ring setup fails, as under a seccomp filter that denies io_uring_setup
    weft::detail::fault::arm(weft::detail::fault::point::io_uring_setup, 1, 1'000);
    temp_dir dir;
    fsys::path p = dir.path / "f";
    auto rt = runtime_on(weft::fs::io_backend::io_uring);
    CHECK(rt.block_on([] { return weft::fs::backend(); }) == weft::fs::io_backend::thread_pool);
    rt.block_on([&] {
        weft::fs::write(p, "fallback");
        auto f = weft::fs::file::open(p);
        std::string s(8, '\0');
        f.read_exact_at(0, boost::asio::buffer(s));
        CHECK(s == "fallback");
    });
#if WEFT_TEST_IO_URING
    CHECK(weft::detail::fault::injected(weft::detail::fault::point::io_uring_setup) >= 1);
#endif
}

TEST_CASE("file: an Asio handler on a worker may not make a file call", "[fs][file]") {
    temp_dir dir;
    fsys::path p = dir.path / "f";
    weft::fs::write(p, "x");
    auto rt = runtime_on(weft::fs::io_backend::io_uring);
    std::promise<std::string> err;
    boost::asio::post(rt.get_executor(), [&] {
        try {
            weft::fs::file::open(p);
            err.set_value("opened");
        } catch (const std::logic_error& e) {
            err.set_value(e.what());
        }
    });
    auto f = err.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK_THAT(f.get(), Catch::Contains("would block a worker"));
}

TEST_CASE("file: Asio forms complete on the handler's executor, with any token",
          "[fs][file][asio]") {
    for (auto b : backends()) {
        INFO(name(b));
        temp_dir dir;
        fsys::path p = dir.path / "f";
        std::string data = pattern(10'000, 3);
        weft::fs::write(p, data);
        auto rt = runtime_on(b);
        auto f = weft::fs::open_options().read(true).write(true).open(p);

        // A callback started from a handler on a worker: it runs later, on that worker's
        // shard, outside any task.
        struct seen {
            boost::system::error_code ec;
            std::size_t n = 0;
            bool in_task = true;
            std::string bytes;
        };
        std::promise<seen> done;
        std::string buf(100, '\0');
        boost::asio::post(rt.get_executor(), [&] {
            f.async_read_some_at(5000, boost::asio::buffer(buf),
                                 [&](boost::system::error_code ec, std::size_t n) {
                                     done.set_value({ec, n, weft::this_task::id() != 0, buf});
                                 });
        });
        auto fut = done.get_future();
        REQUIRE(fut.wait_for(5s) == std::future_status::ready);
        seen s = fut.get();
        CHECK_FALSE(s.ec);
        CHECK(s.n == 100);
        CHECK_FALSE(s.in_task);
        CHECK(s.bytes == data.substr(5000, 100));

        // use_fiber from a task: the task waits; errors are thrown
        std::size_t wrote = rt.block_on([&] {
            return f.async_write_some_at(10'000, boost::asio::buffer(std::string("tail")),
                                         weft::use_fiber);
        });
        CHECK(wrote == 4);
        CHECK(weft::fs::read(p) == data + "tail");
        std::string past(8, '\0');
        CHECK(rt.block_on([&] {
            return f.async_read_some_at(1'000'000, boost::asio::buffer(past), weft::use_fiber);
        }) == 0);
        // a descriptor error arrives as the error_code
        auto ro = weft::fs::file::open(p);
        boost::system::error_code ec;
        rt.block_on([&] {
            (void)ro.async_write_some_at(0, boost::asio::buffer(std::string("x")),
                                         weft::use_fiber[ec]);
        });
        CHECK(ec == boost::system::errc::bad_file_descriptor);
    }
}

TEST_CASE("file: an Asio read cancelled through its slot", "[fs][file][asio]") {
    temp_dir dir;
    fsys::path fifo = dir.path / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto rt = runtime_on(weft::fs::io_backend::io_uring);
    auto f = weft::fs::open_options().read(true).write(true).open(fifo);
    // Start, cancel and complete on one shard, so the slot is only touched by its thread.
    auto shard = rt.block_on([] { return weft::current_io_executor(); });
    boost::asio::cancellation_signal cancel;
    std::promise<std::pair<boost::system::error_code, std::size_t>> done;
    char c = 0;
    boost::asio::post(shard, [&] {
        f.async_read_some_at(0, boost::asio::buffer(&c, 1),
                             boost::asio::bind_cancellation_slot(
                                 cancel.slot(), [&](boost::system::error_code ec, std::size_t n) {
                                     done.set_value({ec, n});
                                 }));
    });
    std::this_thread::sleep_for(30ms);  // the read is in the kernel, waiting for a writer
    boost::asio::post(shard, [&] { cancel.emit(boost::asio::cancellation_type::terminal); });
    const bool on_ring = expected(weft::fs::io_backend::io_uring) == weft::fs::io_backend::io_uring;
    // Without io_uring in the build the pool's read runs to its end: one byte ends it.
    if (!on_ring) REQUIRE(::write(f.native_handle(), "z", 1) == 1);
    auto fut = done.get_future();
    REQUIRE(fut.wait_for(5s) == std::future_status::ready);
    auto [ec, n] = fut.get();
    if (on_ring) {
        CHECK(ec == boost::asio::error::operation_aborted);
        CHECK(n == 0);
    } else {
        CHECK_FALSE(ec);
        CHECK(n == 1);
    }
}
