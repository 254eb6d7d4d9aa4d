// latency_recorder: one worker's schedule-latency and run-time histograms
// (builder::latency_histograms; exported as worker_metrics::schedule_latency and run_time).
//
// Invariants:
//   - Only the owning worker's thread records (single writer), so a bucket is bumped with a
//     relaxed load and store, not a read-modify-write: no lock prefix on the scheduling path.
//     Readers (runtime::metrics, from any thread) load each field relaxed; a snapshot taken
//     while the worker records may be off by the resumptions in flight, as every other worker
//     counter is, and nothing else depends on it.
//   - Times come from the real clock (steady_clock), never the runtime's: under a paused clock
//     a task still waits and runs for real time, and that is what these histograms show.
//   - A task's "ready" stamp (task_header::ready_ns_) is written by whoever makes it runnable,
//     before the queue push that publishes it, and read by the worker that pops it; the queue's
//     release/acquire pair orders the two, so the stamp needs no atomic of its own.
#pragma once

#include "atomics.hpp"

#include <weft/metrics.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace weft::detail {

/// Nanoseconds on the real monotonic clock.
inline std::int64_t latency_clock_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/// One histogram, written by one thread.
class latency_buckets {
   public:
    void record(std::int64_t ns) noexcept {
        // A stamp from another thread's read of the same clock can be a little ahead of ours
        // (the reads are not ordered with each other beyond the queue handoff): clamp at 0.
        const auto v = static_cast<std::uint64_t>(ns < 0 ? 0 : ns);
        single_writer_add(counts_[latency_histogram::bucket_of(v)]);
        single_writer_add(sum_ns_, v);
    }

    [[nodiscard]] latency_histogram snapshot() const noexcept {
        latency_histogram h;
        for (std::size_t i = 0; i < latency_histogram::buckets; ++i) {
            h.counts[i] = counts_[i].load(std::memory_order_relaxed);
            h.count += h.counts[i];
        }
        h.sum = std::chrono::nanoseconds(
            static_cast<std::int64_t>(sum_ns_.load(std::memory_order_relaxed)));
        return h;
    }

   private:
    std::atomic<std::uint64_t> counts_[latency_histogram::buckets]{};
    std::atomic<std::uint64_t> sum_ns_{0};
};

/// A worker's two histograms.
struct latency_recorder {
    latency_buckets schedule_latency;  // ready stamp -> resumed on this worker
    latency_buckets run_time;          // resumed -> switched out
};

}  // namespace weft::detail
