// What the calling thread is to weft: a worker (and which), a blocking-pool thread of a
// runtime, or nothing. Read through opaque functions: a fiber may resume on another thread
// after any suspension, and GCC would otherwise reuse a thread-local address computed before
// the switch (it assumes the thread pointer is constant within a function).
#pragma once

namespace weft::detail {

class scheduler;
class worker;

struct thread_context {
    worker* w = nullptr;         // this thread's worker, while it runs one
    scheduler* sched = nullptr;  // the runtime this thread belongs to (worker or blocking)
};

/// The calling thread's context. Never cache the result across a suspension point.
[[gnu::noinline, gnu::noipa]] thread_context& this_thread_context() noexcept;

/// Sets the context for a scope (worker threads, blocking threads, block_on drivers).
class thread_context_scope {
   public:
    thread_context_scope(scheduler* s, worker* w) noexcept;
    ~thread_context_scope();
    thread_context_scope(const thread_context_scope&) = delete;
    thread_context_scope& operator=(const thread_context_scope&) = delete;

   private:
    thread_context saved_;
};

}  // namespace weft::detail
