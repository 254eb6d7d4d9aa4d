// Asio's per-thread small-object cache for the code a worker runs outside io_context::poll.
//
// Asio recycles the memory of operations, handlers and cancellation-slot handlers through the
// thread_info_base at the top of the calling thread's Asio call stack, which io_context::run
// and poll push for as long as they run. A weft task runs between polls, where the stack is
// empty, so every cancellation handler that a socket operation installs in a use_fiber slot
// went to malloc when the operation started and to free when the task's fiber_op died (two
// per tcp_echo round trip; weft's own handlers already take their memory from the task
// allocator, see weft/detail/block_allocator.hpp). A worker therefore keeps one
// thread_info_base of its own on the call stack for the whole loop.
//
// Invariants
//   - The entry's key is this object, never an io_context's scheduler: `running_in_this_thread`
//     and the io_context's dispatch-inline decisions, which look for their own key, stay
//     false between polls exactly as before.
//   - Nesting stays LIFO: poll/run push their own entry above this one and pop it before
//     returning; a task never switches away inside an Asio call, so no entry lives on a
//     fiber's stack across a switch.
//   - The cache belongs to this thread: Asio looks the top up at each allocate/deallocate, so
//     a task that resumes on another worker uses that worker's cache. Memory allocated here and
//     freed after the worker has gone is returned to the system by whichever thread frees it.
#pragma once

#include <boost/asio/detail/call_stack.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/detail/thread_info_base.hpp>

namespace weft::detail {

/// Puts a thread_info_base of its own at the bottom of the calling thread's Asio call stack
/// for its lifetime (see the file comment).
class asio_thread_cache : private boost::asio::detail::thread_context {
   public:
    asio_thread_cache() noexcept
        : entry_(this, info_) {}
    asio_thread_cache(const asio_thread_cache&) = delete;
    asio_thread_cache& operator=(const asio_thread_cache&) = delete;
    ~asio_thread_cache() = default;

   private:
    // Declared before the entry: the entry is popped before the cache frees its memory.
    boost::asio::detail::thread_info_base info_;
    thread_call_stack::context entry_;
};

}  // namespace weft::detail
