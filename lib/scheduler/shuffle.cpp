// Shuffle mode's switch and seed. See shuffle.hpp.
#include "shuffle.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

namespace weft::detail::shuffle {
namespace {

struct setting {
    bool on = false;
    std::uint64_t seed = 0;
};

setting read_setting() noexcept {
    setting s;
    const char* env = std::getenv("WEFT_SHUFFLE");
    if (!env || !*env || std::string(env) == "0") return s;
    s.on = true;
    char* end = nullptr;
    unsigned long long v = std::strtoull(env, &end, 10);
    if (*end != '\0' || v <= 1) {
        // "1" or anything that is not a number: a fresh seed, printed below for the replay.
        v = static_cast<unsigned long long>(
            std::chrono::steady_clock::now().time_since_epoch().count());
    }
    s.seed = v;
    std::fprintf(stderr, "weft: shuffle mode, seed %llu (WEFT_SHUFFLE=%llu replays it)\n", v, v);
    std::fflush(stderr);
    return s;
}

const setting& current() noexcept {
    static const setting s = read_setting();
    return s;
}

}  // namespace

bool enabled() noexcept { return current().on; }

void stall() noexcept {
    thread_local std::uint64_t state =
        current().seed ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
    std::uint64_t r = next(state);
    switch (r & 3) {
        case 0:
            return;
        case 1:
            std::this_thread::yield();
            return;
        default:
            std::this_thread::sleep_for(std::chrono::microseconds((r >> 2) % 50));
            return;
    }
}
std::uint64_t seed() noexcept { return current().seed; }

}  // namespace weft::detail::shuffle
