// The task side of weft::use_fiber (see include/weft/asio/detail/fiber_op.hpp): the park
// loop, and the abort path that posts cancellation_type::terminal to the operation's
// executor.
#include <weft/asio/use_fiber.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/task_header.hpp>

#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <stdexcept>
#include <string>

namespace weft::detail {

/// Runs on the operation's executor after an abort: emits the terminal cancellation unless
/// the operation already completed, then releases the fiber_op (emit_pending_) and wakes the
/// task. Destroyed without running (the executor's context shut down): only releases.
class cancel_emitter {
   public:
    cancel_emitter(fiber_op_base* op, waker w) noexcept
        : op_(op),
          w_(std::move(w)) {}
    cancel_emitter(cancel_emitter&& o) noexcept
        : op_(std::exchange(o.op_, nullptr)),
          w_(std::move(o.w_)) {}
    cancel_emitter(const cancel_emitter&) = delete;
    cancel_emitter& operator=(const cancel_emitter&) = delete;
    cancel_emitter& operator=(cancel_emitter&&) = delete;
    ~cancel_emitter() {
        if (op_) release(std::exchange(op_, nullptr));
    }

    void operator()() {
        fiber_op_base* op = std::exchange(op_, nullptr);
        // Serialised with the operation (same executor): if its handler has not run yet, the
        // operation is still pending and its slot handler is live.
        if (!op->done_.load(std::memory_order_acquire)) {
            op->signal_.emit(boost::asio::cancellation_type::terminal);
        }
        release(op);
    }

   private:
    void release(fiber_op_base* op) noexcept {
        waker local = std::move(w_);
        // Ordering: release; after this store the task may destroy *op.
        op->emit_pending_.store(false, std::memory_order_release);
        local.wake();
    }

    fiber_op_base* op_;
    waker w_;
};

waker fiber_op_base::prepare(const use_fiber_t& token) {
    if (!token.allow_thread_ && current_task() == nullptr) {
        throw std::logic_error(
            std::string("weft::use_fiber: ") + token.what_ +
            " called outside a task (a plain thread, the blocking pool or an Asio handler); "
            "use another completion token there, or weft::spawn a task");
    }
    throw_if_cancelled();
    return current_waker(token.what_);
}

void fiber_op_base::request_cancel() {
    cancel_emitted_ = true;
    if (exec_state_.load(std::memory_order_acquire) == 2 && exec_) {
        emit_pending_.store(true, std::memory_order_relaxed);
        try {
            boost::asio::post(exec_, cancel_emitter(this, current_waker("use_fiber")));
            return;
        } catch (...) {
            // The emitter was destroyed (cleared emit_pending_) or never built: fall back.
            emit_pending_.store(false, std::memory_order_relaxed);
        }
    }
    // No executor learnt from the operation: emit here, on the task's thread. Asio's own
    // operations always report one; this serves hand-written initiations, whose slot
    // handlers must then tolerate being called from another thread.
    signal_.emit(boost::asio::cancellation_type::terminal);
}

void fiber_op_base::wait(const use_fiber_t& token) {
    const std::source_location where =
        token.where_.line() != 0 ? token.where_ : std::source_location::current();
    for (;;) {
        bool done = done_.load(std::memory_order_acquire);
        if (done && !emit_pending_.load(std::memory_order_acquire)) return;
        if (!done && !cancel_emitted_ && cancellation_requested()) {
            request_cancel();
            continue;
        }
        park(token.what_, where);
    }
}

void fiber_op_base::wait_after_throw() noexcept {
    while (!done_.load(std::memory_order_acquire)) {
        try {
            park("use_fiber");
        } catch (...) {
            // park itself does not throw in a task or on a thread that may block; nothing to do.
        }
    }
}

void fiber_op_base::check_outcome(bool failed) const {
    if (error_) std::rethrow_exception(error_);
    if (destroyed_) {
        throw_if_cancelled();
        throw task_cancelled{};
    }
    if (cancel_emitted_ && failed) throw_if_cancelled();
}

boost::system::error_code* token_error_slot(const use_fiber_t& token) noexcept { return token.ec_; }

boost::system::system_error readable_system_error(const boost::system::error_code& ec,
                                                  std::string_view what) {
    // Asio records where it produced an error (BOOST_ASIO_SOURCE_LOCATION); the code keeps
    // its value and category without it.
    const boost::system::error_code code =
        ec.has_location() ? boost::system::error_code(ec.value(), ec.category()) : ec;
    std::string text = code.message();
    if (!what.empty()) text = std::string(what) + ": " + text;
    boost::system::system_error e(code);
    // safety: every system_error constructor appends error_code::what() ("[system:104 at
    // .../reactive_socket_recv_op.hpp:129:5 in function ...]") to the message, which lives in
    // the std::runtime_error base. That base is copy-assignable, and replacing it changes
    // what() only: code() is a separate member. The object stays a plain system_error, so a
    // handler that catches (or copies) it by that type sees the same text.
    static_cast<std::runtime_error&>(e) = std::runtime_error(text);
    return e;
}

void throw_system_error(const boost::system::error_code& ec) { throw readable_system_error(ec); }

}  // namespace weft::detail
