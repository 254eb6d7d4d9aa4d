// The topic registry: topic name -> weft::broadcast channel of message texts, behind a
// weft::mutex.
//
// Invariants: a topic is in the map while it may have subscribers; it is created by the first
// SUB, and a topic without receivers is erased by the next PUB to it or the next creation of a
// topic (so abandoned topics do not accumulate). The lock is held only for
// map lookups and broadcast::send, which never waits, so it is never held across a
// suspension; it is a weft::mutex anyway so that a contended lock parks the task instead of
// the worker thread.
#pragma once

#include <weft/channel.hpp>
#include <weft/sync.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace relay {

class topic_registry {
   public:
    /// Each topic keeps the last `capacity` messages for its slowest subscriber.
    explicit topic_registry(std::size_t capacity)
        : capacity_(capacity) {}

    /// A receiver of every message published on `topic` from now on (creates the topic).
    weft::broadcast::receiver<std::string> subscribe(const std::string& topic);

    /// Sends `text` to the topic's subscribers; returns how many will see it (0: none, and
    /// the topic is forgotten).
    std::size_t publish(std::string_view topic, std::string text);

   private:
    weft::mutex mu_;
    std::map<std::string, weft::broadcast::sender<std::string>, std::less<>> topics_;
    std::size_t capacity_;
};

}  // namespace relay
