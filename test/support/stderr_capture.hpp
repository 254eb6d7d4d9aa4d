// stderr_capture: what the process writes to stderr (fd 2) while a test runs, for the tests
// that check weft's warnings, reports and signal dumps.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace weft::test {

/// Redirects fd 2 to a temporary file from construction until finish() or destruction.
class stderr_capture {
   public:
    stderr_capture() {
        std::fflush(stderr);
        file_ = std::tmpfile();
        saved_ = ::dup(2);
        ::dup2(::fileno(file_), 2);
    }
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;
    ~stderr_capture() { restore(); }

    /// What was written so far (empty once finished).
    [[nodiscard]] std::string contents() const {
        std::string out;
        if (file_ == nullptr) return out;
        char buf[4096];
        off_t off = 0;
        for (;;) {
            ssize_t n = ::pread(::fileno(file_), buf, sizeof buf, off);
            if (n <= 0) return out;
            out.append(buf, static_cast<std::size_t>(n));
            off += n;
        }
    }

    /// Waits, at most `limit`, until the captured text holds `what` at least `times` times.
    [[nodiscard]] bool wait_for(const std::string& what, std::size_t times = 1,
                                std::chrono::milliseconds limit = std::chrono::seconds(5)) const {
        auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            std::string s = contents();
            std::size_t n = 0;
            for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
            if (n >= times) return true;
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    /// Puts stderr back and returns everything captured; later calls return "".
    std::string finish() {
        if (saved_ < 0) return {};
        std::fflush(stderr);
        std::string out = contents();
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
        std::fclose(file_);
        file_ = nullptr;
        return out;
    }

    /// Puts stderr back, dropping what was captured.
    void restore() { (void)finish(); }

   private:
    std::FILE* file_ = nullptr;
    int saved_ = -1;
};

}  // namespace weft::test
