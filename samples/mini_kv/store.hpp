// The key-value store: string keys and values with optional expiry, split into shards that
// each have their own weft::mutex, so connections on different workers rarely wait for
// each other.
#pragma once

#include <weft/sync.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace kv {

class append_log;

using clock = std::chrono::steady_clock;
/// No expiry.
inline constexpr clock::time_point never = clock::time_point::max();

enum class set_condition { always, if_absent /* NX */, if_present /* XX */ };

/// INCR's outcome: the new value, or the error to reply.
using incr_result = std::variant<long long, const char*>;

/// The store. Every operation locks one shard (DEL and EXISTS: one at a time, per key).
/// Expired keys are removed when touched (lazily, as Redis does) and by sweep_expired().
/// Each mutation is sent to the append-only log, if one is attached, while its shard is
/// still locked: see store.cpp.
class store {
   public:
    explicit store(std::size_t shards = 16);

    /// From now on every mutation is also sent to `log` (which must outlive the store's use).
    void attach_log(append_log* log) noexcept { log_ = log; }

    std::optional<std::string> get(std::string_view key);
    /// Stores `value` unless `cond` says otherwise; returns whether it did.
    bool set(std::string_view key, std::string value, set_condition cond,
             clock::time_point expires);
    /// Removes `key`; returns whether it existed.
    bool del(std::string_view key);
    bool exists(std::string_view key);
    /// Adds 1 to the integer in `key` (0 if absent), keeping its expiry.
    incr_result incr(std::string_view key);

    /// Removes up to `budget` expired keys per shard; returns how many it removed.
    std::size_t sweep_expired(std::size_t budget);

   private:
    struct entry {
        std::string value;
        clock::time_point expires = never;
    };
    struct string_hash {
        using is_transparent = void;  // look std::string keys up by string_view, no copy
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    using deadline = std::pair<clock::time_point, std::string>;
    // [shard]
    struct alignas(64) shard {  // one cache line apart: shards are locked from many workers
        weft::mutex mu;
        std::unordered_map<std::string, entry, string_hash, std::equal_to<>> map;
        // Every expiry ever set, soonest first; an entry whose key was since overwritten or
        // deleted is stale and skipped by the sweep.
        std::priority_queue<deadline, std::vector<deadline>, std::greater<>> deadlines;
    };
    // [shard]

    shard& shard_for(std::string_view key) noexcept {
        return shards_[string_hash{}(key) % shards_.size()];
    }
    /// The live entry for `key`, erasing it if it has expired. Shard locked.
    entry* find_live(shard& s, std::string_view key);
    void log_set(std::string_view key, std::string_view value, clock::time_point expires);
    void log_del(std::string_view key);

    std::vector<shard> shards_;
    append_log* log_ = nullptr;
};

}  // namespace kv
