// echo_load: the echo server's load client on its own, against any echo server.
//
//   echo_load --connect 127.0.0.1:7000 [--connections N] [--seconds S] [--size BYTES]
//
// Prints one line with the requests/s; exits 0 if every reply matched its request, 1 if not,
// 2 on bad arguments.
#include "cli.hpp"
#include "load.hpp"

#include <weft/runtime.hpp>

#include <cstdio>
#include <exception>
#include <span>

int main(int argc, char** argv) {
    echo::load_options opt;
    try {
        echo::parse_load_flags(std::span<char*>(argv + 1, static_cast<std::size_t>(argc - 1)), opt,
                               /*allow_connect=*/true);
        if (opt.address.empty()) throw echo::usage_error("--connect ADDR is required");
    } catch (const echo::usage_error& e) {
        std::fprintf(stderr,
                     "echo_load: %s\nusage: echo_load --connect ADDR [--connections N] "
                     "[--seconds S] [--size BYTES]\n",
                     e.what());
        return 2;
    }
    try {
        weft::runtime rt;
        echo::load_result r = rt.block_on([&] { return echo::run_load(opt); });
        std::puts(echo::describe(opt, r).c_str());
        return r.ok() ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_load: %s\n", e.what());
        return 1;
    }
}
