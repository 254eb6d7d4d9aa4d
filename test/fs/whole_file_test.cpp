// weft::fs::read / write on both backends: round trips (task, plain thread), procfs, errors.
#include "support/harness.hpp"

#include <weft/fs.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <string>

namespace {

std::filesystem::path temp_path(const char* name) {
    return std::filesystem::temp_directory_path() /
           (std::string("weft-fs-test-") + std::to_string(::getpid()) + "-" + name);
}

// Both backends: a task's calls go to its worker's io_uring ring or to the blocking pool.
const weft::fs::io_backend both[] = {weft::fs::io_backend::io_uring,
                                     weft::fs::io_backend::thread_pool};

weft::runtime runtime_on(weft::fs::io_backend b) {
    return weft::builder::multi_thread().worker_threads(2).file_io(b).build();
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
