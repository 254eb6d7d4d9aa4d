// weft::use_fiber: an Asio completion token that makes any Asio asynchronous operation a
// suspending call of the calling task.
#pragma once

#include <weft/asio/detail/fiber_op.hpp>
#include <weft/detail/block_allocator.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/system/error_code.hpp>

#include <source_location>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {
struct use_fiber_access;
}

/// The type of weft::use_fiber. A completion token: pass it where an Asio operation takes a
/// handler, from inside a task.
///
///     asio::steady_timer t(weft::current_io_executor(), 10ms);
///     t.async_wait(weft::use_fiber);                          // suspends this task only
///     std::size_t n = sock.async_read_some(buf, weft::use_fiber);
///     boost::system::error_code ec;
///     n = sock.async_read_some(buf, weft::use_fiber[ec]);    // errors into ec, not thrown
///
/// The call returns the operation's result by completion signature:
///   void() / void(error_code)         -> void
///   void(error_code, T)               -> T
///   void(error_code, T...)            -> std::tuple<T...>
///   void(std::exception_ptr[, T...])  -> rethrows a non-null exception, else as above
///   void(T) -> T;  void(T...) -> std::tuple<T...>
/// A non-zero leading error_code is thrown as boost::system::system_error, or stored into
/// `ec` with use_fiber[ec] (which is cleared on success). Adapters built on async_result
/// (asio::as_tuple, asio::redirect_error, asio::deferred) compose with it. The I/O object may
/// belong to any io_context: one of weft's shards (current_io_executor()) or a foreign one
/// run by other threads; the handler runs there and only wakes the task.
///
/// Called outside a task (a plain thread, the blocking pool, an Asio handler): std::logic_error.
///
/// **Cancellation**: the call is a cancellation point (an already aborted task throws before
/// starting the operation). When the task is aborted, or a weft::timeout around it expires,
/// while the operation is pending, weft emits cancellation_type::terminal through the
/// handler's cancellation slot, posted to the operation's executor (so it is serialised with
/// the operation, as Asio requires), and the task stays suspended until the handler has run,
/// because the operation's buffers live on the task's stack. If the operation completed with
/// an error (normally asio::error::operation_aborted) the call throws task_cancelled (or the
/// timeout's internal exception); if it completed successfully anyway, the call returns its
/// result and the next cancellation point throws; if its handler is destroyed without being
/// invoked (its io_context was destroyed), the call throws task_cancelled. An operation that
/// ignores cancellation keeps the task suspended until it completes. use_fiber operations are
/// not cancel-safe in general: a composed operation (asio::async_write, async_read) may have
/// transferred part of its data when it is aborted, and that progress is not reported.
class use_fiber_t {
   public:
    constexpr use_fiber_t() noexcept = default;

    /// use_fiber[ec]: the returned token stores the operation's error_code into `ec`
    /// instead of throwing boost::system::system_error (exception_ptr signatures still
    /// rethrow).
    constexpr use_fiber_t operator[](boost::system::error_code& ec) const noexcept {
        use_fiber_t t(*this);
        t.ec_ = &ec;
        return t;
    }

   private:
    friend class detail::fiber_op_base;
    friend struct detail::use_fiber_access;
    friend boost::system::error_code* detail::token_error_slot(const use_fiber_t&) noexcept;

    boost::system::error_code* ec_ = nullptr;
    const char* what_ = "use_fiber";
    std::source_location where_{};
    bool allow_thread_ = false;
};

/// The completion token that suspends the calling task until an Asio operation completes.
/// See use_fiber_t.
inline constexpr use_fiber_t use_fiber{};

namespace detail {
/// The token weft's own suspending calls (weft::net, weft::fs, ...) pass to Asio: use_fiber
/// that names the wait for dump() and records where it was made, and that also runs on a
/// thread that is not a task (blocking that thread), as those calls allow on blocking-pool and
/// plain threads. `what` must have static storage. Not part of the public token.
struct use_fiber_access {
    static constexpr use_fiber_t internal_token(const char* what,
                                                std::source_location where) noexcept {
        use_fiber_t t;
        t.what_ = what;
        t.where_ = where;
        t.allow_thread_ = true;
        return t;
    }
};
}  // namespace detail

}  // namespace weft

namespace boost::asio {

template <class R, class... Args>
/// Asio's customisation point for weft::use_fiber: starts the operation with a handler that
/// wakes the calling task, suspends the task until the handler has run, and returns the
/// result as use_fiber_t describes. Not called directly: Asio's async_initiate uses it.
class async_result<weft::use_fiber_t, R(Args...)> {
   public:
    /// The pending operation's state; it lives on the suspended task's stack.
    using op_type = weft::detail::fiber_op<std::decay_t<Args>...>;
    /// The handler passed to the initiation: it stores the results and wakes the task.
    using handler_type = weft::detail::fiber_handler<std::decay_t<Args>...>;
    /// What the asynchronous operation returns (see the table in use_fiber_t).
    using return_type = typename weft::detail::fiber_result<std::decay_t<Args>...>::type;

    template <class Initiation, class RawToken, class... InitArgs>
    /// Starts `init` with a handler_type, suspends the calling task until it has completed, and
    /// returns its result (or throws; see use_fiber_t, including **Cancellation**).
    static return_type initiate(Initiation&& init, RawToken&& token, InitArgs&&... args) {
        const weft::use_fiber_t& tok = token;
        op_type op;
        {
            weft::detail::waker w = weft::detail::fiber_op_base::prepare(tok);
            try {
                std::forward<Initiation>(init)(handler_type(&op, std::move(w)),
                                               std::forward<InitArgs>(args)...);
            } catch (...) {
                op.wait_after_throw();
                throw;
            }
        }
        op.wait(tok);
        return weft::detail::take_fiber_result(op, tok);
    }
};

/// The operation's executor is what the operation proposes (the I/O object's): recorded so
/// an abort can post its cancellation there.
template <class... Ts, class Executor>
struct associated_executor<weft::detail::fiber_handler<Ts...>, Executor> {
    using type = Executor;
    static type get(const weft::detail::fiber_handler<Ts...>& h,
                    const Executor& ex = Executor()) noexcept {
        if (auto* op = h.op()) op->record_executor(ex);
        return ex;
    }
};

/// The operation's memory comes from weft's per-thread block lists (see block_allocator).
template <class... Ts, class Allocator>
struct associated_allocator<weft::detail::fiber_handler<Ts...>, Allocator> {
    using type = weft::detail::block_allocator<void>;
    static type get(const weft::detail::fiber_handler<Ts...>&,
                    const Allocator& = Allocator()) noexcept {
        return {};
    }
};

template <class... Ts, class CancellationSlot>
struct associated_cancellation_slot<weft::detail::fiber_handler<Ts...>, CancellationSlot> {
    using type = cancellation_slot;
    static type get(const weft::detail::fiber_handler<Ts...>& h,
                    const CancellationSlot& = CancellationSlot()) noexcept {
        auto* op = h.op();
        return op ? op->slot() : cancellation_slot();
    }
};

}  // namespace boost::asio
