// join_op: the operation behind join_handle::async_join. It registers itself as the task's
// join waker (a wake_target); the task's completion unparks it, which posts the handler with
// the outcome to the handler's executor. Cancellation through the handler's slot unregisters
// it if the task has not completed yet and completes with operation_aborted.
#pragma once

#include <weft/detail/completion_executor.hpp>
#include <weft/detail/waker.hpp>
#include <weft/task/join_handle.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace weft::detail {

/// An executor on the workers of the runtime that owns `t` (for handlers without one).
boost::asio::any_io_executor runtime_completion_executor(task_header* t);

/// Registers `w` as the join waker of `t`. False when `t` already completed (w is dropped).
bool register_join_waker(task_header* t, waker w);
/// Takes the join waker back. False when completion already took it.
bool unregister_join_waker(task_header* t);

template <class T>
using async_join_value_t =
    std::conditional_t<std::is_void_v<T>, void,
                       std::conditional_t<std::is_default_constructible_v<T>, T, std::optional<T>>>;

template <class T, class Handler>
class join_op final : public wake_target {
   public:
    join_op(Handler&& h, join_handle<T>&& jh)
        : handler_(std::move(h)),
          work_(boost::asio::prefer(
              boost::asio::get_associated_executor(
                  handler_, runtime_completion_executor(handle_access::get(jh))),
              boost::asio::execution::outstanding_work.tracked)),
          jh_(std::move(jh)) {}

    void start() {
        task_header* t = handle_access::get(jh_);
        auto slot = boost::asio::get_associated_cancellation_slot(handler_);
        if (slot.is_connected()) slot.template emplace<canceller>(this);
        add_ref();  // released by unpark's completion or by a successful cancel
        if (!register_join_waker(t, waker(static_cast<wake_target*>(this)))) {
            complete(nullptr);  // completed already (the waker was dropped)
        }
    }

    void unpark() noexcept override {
        complete(nullptr);
        // The waker's reference is dropped by the waker itself.
    }

   private:
    struct canceller {
        join_op* op;
        void operator()(boost::asio::cancellation_type_t) const {
            if (unregister_join_waker(handle_access::get(op->jh_))) {
                op->complete(std::make_exception_ptr(
                    boost::system::system_error(boost::asio::error::operation_aborted)));
            }
        }
    };

    void complete(std::exception_ptr aborted) noexcept {
        if (done_.exchange(true, std::memory_order_acq_rel)) return;
        if (aborted) {
            error_ = std::move(aborted);
        } else {
            task_result<T>* t = handle_access::take(jh_);
            try {
                // Consumes the outcome exactly as join() would (join_error on failure).
                take_outcome(t);
                if constexpr (!std::is_void_v<T>) value_.emplace(std::move(*t->value_));
            } catch (...) {
                error_ = std::current_exception();
            }
            t->release();
        }
        auto ex = work_;  // a copy keeps the work tracked until the handler ran
        boost::asio::post(std::move(ex), [this] { invoke(); });
    }

    void invoke() {
        boost::asio::get_associated_cancellation_slot(handler_).clear();
        Handler h = std::move(handler_);
        std::exception_ptr e = std::move(error_);
        std::optional<value_slot> v = std::move(value_);
        jh_ = join_handle<T>();  // the outcome was taken (or abandoned after a cancel)
        release();
        if constexpr (std::is_void_v<T>) {
            std::move(h)(e);
        } else if constexpr (std::is_default_constructible_v<T>) {
            std::move(h)(e, v ? std::move(*v) : T());
        } else {
            std::move(h)(e, std::move(v));
        }
    }

    using value_slot = std::conditional_t<std::is_void_v<T>, char, T>;
    using work_t = std::decay_t<decltype(boost::asio::prefer(
        boost::asio::get_associated_executor(std::declval<Handler&>(),
                                             std::declval<boost::asio::any_io_executor>()),
        boost::asio::execution::outstanding_work.tracked))>;

    Handler handler_;
    work_t work_;
    join_handle<T> jh_;
    std::atomic<bool> done_{false};
    std::exception_ptr error_;
    std::optional<value_slot> value_;
};

template <class T>
struct initiate_join {
    template <class Handler>
    void operator()(Handler&& h, join_handle<T> jh) const {
        auto* op = new join_op<T, std::decay_t<Handler>>(std::forward<Handler>(h), std::move(jh));
        op->start();
        op->release();  // the creator's reference; the op lives on through its others
    }
};

}  // namespace weft::detail
