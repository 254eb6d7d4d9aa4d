// A token bucket for PUB rate limiting: holds up to `rate` tokens (one second's worth), a PUB
// takes one, and refill() adds rate tokens per second elapsed since the last refill. One per
// connection, used only by that connection's task: no synchronisation.
//
// Refill is by elapsed time, not by counting ticks, on purpose: the connection calls refill()
// from an interval tick inside weft::select, and a tick branch that ends in the same instant
// as another branch's win is cancelled after its tick was taken from the interval. Counting
// ticks would then lose a refill; measuring time loses nothing.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace relay {

class token_bucket {
   public:
    using time_point = std::chrono::steady_clock::time_point;

    /// `rate` PUBs per second (0: unlimited); starts full.
    token_bucket(std::uint64_t rate, time_point now) { set_rate(rate, now); }

    /// False when there is no limit (rate 0).
    [[nodiscard]] bool limited() const noexcept { return rate_ != 0; }
    /// True when a refill would add nothing.
    [[nodiscard]] bool full() const noexcept { return tokens_ >= capacity(); }

    /// Takes one token if there is one.
    bool try_take(time_point now) noexcept {
        if (!limited()) return true;
        if (tokens_ < 1.0) return false;
        if (full()) last_ = now;  // time spent full earned nothing
        tokens_ -= 1.0;
        return true;
    }

    /// Adds what the time since the last refill earned, up to the capacity.
    void refill(time_point now) noexcept {
        std::chrono::duration<double> dt = now - last_;
        last_ = now;
        if (dt.count() > 0)
            tokens_ = std::min(capacity(), tokens_ + dt.count() * static_cast<double>(rate_));
    }

    /// A new rate starts with a full bucket.
    void set_rate(std::uint64_t rate, time_point now) noexcept {
        rate_ = rate;
        tokens_ = capacity();
        last_ = now;
    }

   private:
    [[nodiscard]] double capacity() const noexcept { return static_cast<double>(rate_); }

    std::uint64_t rate_ = 0;
    double tokens_ = 0;
    time_point last_;
};

}  // namespace relay
