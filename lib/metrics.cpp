// latency_histogram's quantile (see <weft/metrics.hpp>).
#include <weft/metrics.hpp>

#include <cmath>

namespace weft {

std::chrono::nanoseconds latency_histogram::quantile_bound(double q) const noexcept {
    if (count == 0) return std::chrono::nanoseconds(0);
    q = std::isnan(q) ? 0.0 : std::fmin(std::fmax(q, 0.0), 1.0);
    // The rank of the q-quantile among `count` sorted durations, 1-based (at least the first).
    const auto rank = std::fmax(1.0, std::ceil(q * static_cast<double>(count)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets; ++i) {
        seen += counts[i];
        if (static_cast<double>(seen) >= rank) return upper_bound(i);
    }
    // Only for a histogram built by hand whose count exceeds the sum of its counts; the
    // runtime's snapshots derive count from the counts.
    return upper_bound(buckets - 1);
}

}  // namespace weft
