// thread_parker: how a plain thread (not a task) waits. Rust's thread::park: a token that an
// unpark stores and the next park consumes, so an unpark that comes first is not lost.
// Reference-counted because a waker may outlive the wait that created it.
#pragma once

#include <weft/detail/waker.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace weft::detail {

class thread_parker final : public wake_target {
   public:
    /// The calling thread's parker.
    static thread_parker& current();

    void park() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return notified_; });
        notified_ = false;
    }
    void unpark() noexcept override {
        {
            std::lock_guard lock(mu_);
            notified_ = true;
        }
        cv_.notify_one();
    }

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool notified_ = false;
};

}  // namespace weft::detail
