// The stress suite's helpers (see stress_support.hpp) and its std::terminate handler: weft must
// never reach std::terminate, so the handler records what was in flight and ends the process
// with exit code 3 at once. A test that fails this way fails loudly, with the reason on stderr,
// instead of aborting with a core dump or hanging in a half-destroyed runtime.
#include "stress/stress_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <fstream>
#include <typeinfo>

extern char** environ;

namespace weft::stress {

namespace {

[[noreturn]] void on_terminate() noexcept {
    const char* what = "no exception in flight";
    std::string buf;
    if (std::exception_ptr e = std::current_exception()) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            buf = fmt::format("{} ({})", ex.what(), typeid(ex).name());
            what = buf.c_str();
        } catch (...) {
            what = "a non-std exception";
        }
    }
    std::fprintf(stderr, "\nweft stress: std::terminate reached: %s\n", what);
    std::fflush(stderr);
    std::fflush(stdout);
    std::_Exit(terminate_exit_code);
}

// Installed before main, so it covers every test case and every thread.
[[maybe_unused]] const bool terminate_handler_installed = [] {
    std::set_terminate(on_terminate);
    return true;
}();

}  // namespace

std::size_t rss_bytes() {
    std::ifstream in("/proc/self/statm");
    std::size_t pages_total = 0, pages_resident = 0;
    in >> pages_total >> pages_resident;
    return pages_resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t map_count() {
    std::ifstream in("/proc/self/maps");
    std::size_t n = 0;
    std::string line;
    while (std::getline(in, line)) ++n;
    return n;
}

std::size_t open_fds() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] != '.') ++n;
        }
        ::closedir(d);
    }
    return n > 0 ? n - 1 : 0;  // the directory stream's own descriptor
}

std::size_t raise_fd_limit(std::size_t want) {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < want) {
        r.rlim_cur = r.rlim_max == RLIM_INFINITY ? want : std::min<rlim_t>(want, r.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &r);
        ::getrlimit(RLIMIT_NOFILE, &r);
    }
    return static_cast<std::size_t>(r.rlim_cur);
}

std::size_t parked_in(const weft::runtime& rt, std::string_view what) {
    std::size_t n = 0;
    for (const auto& t : rt.dump()) {
        if (t.state == weft::task_state::suspended && t.waiting_on == what) ++n;
    }
    return n;
}

std::size_t wait_parked(const weft::runtime& rt, std::string_view what, std::size_t n,
                        std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::size_t seen = 0;
    for (;;) {
        seen = parked_in(rt, what);
        if (seen >= n || std::chrono::steady_clock::now() >= deadline) return seen;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

bool wait_no_tasks(const weft::runtime& rt, std::size_t allowed, std::chrono::milliseconds limit) {
    return wait_until([&] { return rt.metrics().alive_tasks <= allowed; }, limit);
}

std::string child_role() {
    const char* env = std::getenv("WEFT_STRESS_CHILD");
    return env ? std::string(env) : std::string();
}

child_result run_child(const std::string& test_name, const std::string& role,
                       std::chrono::milliseconds limit) {
    child_result out;
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return out;
    std::string self = "/proc/self/exe";
    std::vector<std::string> args = {self, test_name};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) {
        if (std::strncmp(*e, "WEFT_STRESS_CHILD=", 18) != 0) env_store.emplace_back(*e);
    }
    env_store.push_back("WEFT_STRESS_CHILD=" + role);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(pipefd[1]);
    if (rc != 0) {
        ::close(pipefd[0]);
        return out;
    }
    auto deadline = std::chrono::steady_clock::now() + limit;
    bool eof = false;
    int status = 0;
    for (;;) {
        if (!eof) {
            pollfd p{pipefd[0], POLLIN, 0};
            if (::poll(&p, 1, 10) > 0) {
                char buf[4096];
                ssize_t n = ::read(pipefd[0], buf, sizeof buf);
                if (n > 0) {
                    out.output.append(buf, static_cast<std::size_t>(n));
                } else {
                    eof = true;
                }
            }
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            out.timed_out = true;
            break;
        }
    }
    // Whatever the child wrote last.
    for (;;) {
        char buf[4096];
        pollfd p{pipefd[0], POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) break;
        ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n <= 0) break;
        out.output.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipefd[0]);
    if (WIFEXITED(status)) {
        out.exited = true;
        out.status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        out.signal = WTERMSIG(status);
    }
    return out;
}

}  // namespace weft::stress
