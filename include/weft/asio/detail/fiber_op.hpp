// The machinery behind weft::use_fiber: the per-operation state that lives on the waiting
// task's stack (fiber_op), the completion handler Asio holds (fiber_handler), and the mapping
// from a completion signature to the value the call returns (fiber_result).
//
// One operation, three parties:
//   the task     builds a fiber_op on its stack, starts the Asio operation with a
//                fiber_handler pointing at it, and parks until `done_` (and, after an abort,
//                until the posted cancellation has run: `emit_pending_`);
//   the handler  runs wherever Asio runs it (a weft shard, a foreign io_context's thread):
//                it stores the arguments, then publishes `done_` (release) and wakes the task
//                with a waker it owns, so it never touches the fiber_op after publishing;
//   the emitter  (only after an abort) runs on the operation's executor and emits
//                cancellation_type::terminal through the handler's slot, unless the operation
//                already completed; then publishes `emit_pending_ = false` the same way.
// The fiber_op is destroyed only when both flags say nobody will touch it again.
//
// The operation's executor is learnt from Asio itself: every operation asks
// get_associated_executor(handler, io_executor) when it starts, and fiber_handler's
// associated_executor specialisation answers with the candidate it was given, recording it
// the first time (exec_state_: 0 none, 1 being written, 2 ready). An operation that never
// asks (a hand-written initiation, or a handler bound with bind_executor) gets its
// cancellation emitted inline on the task's thread instead.
#pragma once

#include <weft/detail/waker.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <source_location>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft {
class use_fiber_t;
}

namespace weft::detail {

/// The non-template part of one use_fiber operation (see the file comment).
class fiber_op_base {
   public:
    fiber_op_base() noexcept = default;
    fiber_op_base(const fiber_op_base&) = delete;
    fiber_op_base& operator=(const fiber_op_base&) = delete;
    ~fiber_op_base() = default;

    /// Task side, before starting: checks the context (a task, or a thread when the token
    /// allows it), throws if the task is already cancelled, returns the waker for the handler.
    static waker prepare(const use_fiber_t& token);

    /// Task side: parks until the handler ran (or was destroyed) and any posted cancellation
    /// finished; emits the cancellation when the task is aborted meanwhile.
    void wait(const use_fiber_t& token);

    /// Task side, when the initiation threw: waits, without cancelling, until the handler it
    /// was given is gone, so the handler never outlives this object.
    void wait_after_throw() noexcept;

    /// Task side, after wait(): rethrows what the handler stored on failure, turns a
    /// destroyed handler into task_cancelled, and an error after an emitted cancellation
    /// into the task's cancellation exception. `failed`: the completion carries an error.
    void check_outcome(bool failed) const;

    // ---- handler side -------------------------------------------------------------------
    [[nodiscard]] boost::asio::cancellation_slot slot() noexcept { return signal_.slot(); }

    template <class Executor>
    void record_executor(const Executor& ex) noexcept {
        if constexpr (std::is_convertible_v<const Executor&, boost::asio::any_io_executor>) {
            // Ordering: only the first caller writes (the CAS claims it); the release store
            // publishes the executor to the task, which reads it with acquire.
            if (exec_state_.load(std::memory_order_relaxed) != 0) return;
            std::uint8_t expected = 0;
            if (!exec_state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                                     std::memory_order_relaxed)) {
                return;
            }
            try {
                exec_ = boost::asio::any_io_executor(ex);
            } catch (...) {
                return;  // stays 1: cancellation falls back to inline emission
            }
            exec_state_.store(2, std::memory_order_release);
        }
    }

    /// The handler was invoked (its arguments are stored) or threw while storing them.
    void complete(waker& w) noexcept {
        waker local = std::move(w);
        // Ordering: release publishes the stored result; after this store the task may
        // return and destroy *this, so nothing below touches it.
        done_.store(true, std::memory_order_release);
        local.wake();
    }
    /// The handler was destroyed without being invoked.
    void abandoned(waker& w) noexcept {
        destroyed_ = true;
        complete(w);
    }
    void set_error(std::exception_ptr e) noexcept { error_ = std::move(e); }

   private:
    friend class cancel_emitter;
    void request_cancel();

    std::atomic<bool> done_{false};
    std::atomic<bool> emit_pending_{false};
    std::atomic<std::uint8_t> exec_state_{0};
    bool destroyed_ = false;       // written by the handler before done_
    bool cancel_emitted_ = false;  // task only
    std::exception_ptr error_;     // written by the handler before done_
    boost::asio::cancellation_signal signal_;
    boost::asio::any_io_executor exec_;
};

/// One operation with completion arguments Ts... (decayed).
template <class... Ts>
class fiber_op : public fiber_op_base {
   public:
    std::optional<std::tuple<Ts...>> result_;
};

/// The completion handler given to Asio. Move-only; invoking it or destroying it uninvoked
/// completes the operation exactly once (a moved-from handler does nothing).
template <class... Ts>
class fiber_handler {
   public:
    fiber_handler(fiber_op<Ts...>* op, waker w) noexcept
        : op_(op),
          w_(std::move(w)) {}
    fiber_handler(fiber_handler&& o) noexcept
        : op_(std::exchange(o.op_, nullptr)),
          w_(std::move(o.w_)) {}
    fiber_handler(const fiber_handler&) = delete;
    fiber_handler& operator=(const fiber_handler&) = delete;
    fiber_handler& operator=(fiber_handler&&) = delete;
    ~fiber_handler() {
        if (op_) op_->abandoned(w_);
    }

    template <class... A>
    void operator()(A&&... args) {
        fiber_op<Ts...>* op = std::exchange(op_, nullptr);
        try {
            op->result_.emplace(std::forward<A>(args)...);
        } catch (...) {
            op->set_error(std::current_exception());
        }
        op->complete(w_);
    }

    /// For the associators below.
    [[nodiscard]] fiber_op<Ts...>* op() const noexcept { return op_; }

   private:
    fiber_op<Ts...>* op_;
    waker w_;
};

// ---- completion signature -> returned value ----------------------------------------------

/// The elements First.. of std::tuple<Ts...>, as the call returns them: void, T, or
/// std::tuple<T...>.
template <std::size_t First, class Tuple, class Seq>
struct tail_tuple;
template <std::size_t First, class... Ts, std::size_t... I>
struct tail_tuple<First, std::tuple<Ts...>, std::index_sequence<I...>> {
    using type = std::tuple<std::tuple_element_t<First + I, std::tuple<Ts...>>...>;
};

template <class Tuple>
struct unwrap_single {
    using type = Tuple;
};
template <>
struct unwrap_single<std::tuple<>> {
    using type = void;
};
template <class T>
struct unwrap_single<std::tuple<T>> {
    using type = T;
};

template <std::size_t First, class... Ts>
struct tail_values {
    static constexpr std::size_t count = sizeof...(Ts) - First;
    using tuple_type =
        typename tail_tuple<First, std::tuple<Ts...>, std::make_index_sequence<count>>::type;
    using type = typename unwrap_single<tuple_type>::type;

    static type take(std::tuple<Ts...>& t) {
        if constexpr (count == 0) {
            return;
        } else if constexpr (count == 1) {
            return std::move(std::get<First>(t));
        } else {
            return take_all(t, std::make_index_sequence<count>());
        }
    }

   private:
    template <std::size_t... I>
    static tuple_type take_all(std::tuple<Ts...>& t, std::index_sequence<I...>) {
        return tuple_type(std::move(std::get<First + I>(t))...);
    }
};

template <class... Ts>
struct fiber_result {
    static constexpr bool leading_error_code =
        sizeof...(Ts) > 0 &&
        std::is_same_v<std::tuple_element_t<0, std::tuple<Ts..., void>>, boost::system::error_code>;
    static constexpr bool leading_exception =
        sizeof...(Ts) > 0 &&
        std::is_same_v<std::tuple_element_t<0, std::tuple<Ts..., void>>, std::exception_ptr>;
    static constexpr std::size_t first_value = (leading_error_code || leading_exception) ? 1 : 0;
    using values = tail_values<first_value, Ts...>;
    using type = typename values::type;

    static bool failed(const std::tuple<Ts...>& t) noexcept {
        if constexpr (leading_error_code || leading_exception) {
            return static_cast<bool>(std::get<0>(t));
        } else {
            return false;
        }
    }
};

/// The token's error_code slot (use_fiber[ec]); null when errors are thrown.
boost::system::error_code* token_error_slot(const use_fiber_t& token) noexcept;

/// A boost::system::system_error for `ec` whose what() reads "<what>: <message>" (the message
/// alone for an empty `what`): without the "[category:value at file:line]" that Boost.System
/// appends, which names Asio's internal headers. code() keeps the value and the category.
boost::system::system_error readable_system_error(const boost::system::error_code& ec,
                                                  std::string_view what = {});

/// Throws readable_system_error(ec) (out of line: keeps the handler path small).
[[noreturn]] void throw_system_error(const boost::system::error_code& ec);

/// After fiber_op::wait: the value the call returns, or the error it throws / stores.
template <class... Ts>
typename fiber_result<Ts...>::type take_fiber_result(fiber_op<Ts...>& op,
                                                     const use_fiber_t& token) {
    using R = fiber_result<Ts...>;
    op.check_outcome(op.result_.has_value() && R::failed(*op.result_));
    std::tuple<Ts...>& t = *op.result_;
    if constexpr (R::leading_error_code) {
        const boost::system::error_code& ec = std::get<0>(t);
        if (boost::system::error_code* slot = token_error_slot(token)) {
            *slot = ec;
        } else if (ec) {
            throw_system_error(ec);
        }
    } else if constexpr (R::leading_exception) {
        if (std::get<0>(t)) std::rethrow_exception(std::get<0>(t));
    }
    return R::values::take(t);
}

}  // namespace weft::detail
