// The topic registry (see topics.hpp for its invariants).
#include "topics.hpp"

#include <mutex>
#include <utility>

namespace relay {

weft::broadcast::receiver<std::string> topic_registry::subscribe(const std::string& topic) {
    std::lock_guard lk(mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) {
        std::erase_if(topics_, [](const auto& t) { return t.second.receiver_count() == 0; });
        // The channel's first receiver is dropped: subscribe() below makes the one we return.
        it = topics_.emplace(topic, weft::broadcast::channel<std::string>(capacity_).first).first;
    }
    return it->second.subscribe();
}

std::size_t topic_registry::publish(std::string_view topic, std::string text) {
    std::lock_guard lk(mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return 0;
    std::size_t n = it->second.send(std::move(text));
    if (n == 0) topics_.erase(it);
    return n;
}

}  // namespace relay
