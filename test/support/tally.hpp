// tally: counts the ids a conservation test receives, so that one lost or one taken twice
// is named in the failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft::test {

/// Ids 0..n-1, each expected exactly once.
struct tally {
    explicit tally(std::size_t n)
        : seen(n, 0) {}
    /// Records one arrival of `id` (an unknown or repeated id counts as duplicated).
    void add(std::size_t id) {
        if (id >= seen.size() || seen[id]++ != 0) ++duplicated;
        ++received;
    }
    /// Receives from `rx` until its channel ends (recv() returns nullopt), recording each id.
    template <class Receiver>
    void drain(Receiver& rx) {
        while (auto v = rx.recv()) add(*v);
    }
    /// Ids that never arrived.
    [[nodiscard]] std::size_t missing() const {
        std::size_t m = 0;
        for (auto c : seen) m += c == 0;
        return m;
    }
    std::vector<std::uint8_t> seen;
    std::size_t received = 0;
    std::size_t duplicated = 0;
};

}  // namespace weft::test
