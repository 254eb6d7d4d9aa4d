// mpsc::send_status and mpsc::send_error: how a send into an mpsc channel can end.
#pragma once

#include <weft/error.hpp>

#include <memory>
#include <utility>

namespace weft::mpsc {

/// Result of try_send.
enum class send_status {
    ok,      ///< the value was sent
    full,    ///< a bounded channel's buffer is full; the argument is untouched
    closed,  ///< the receiver closed the channel or is gone; the argument is untouched
};

/// Thrown by send when the receiver is gone or closed the channel: a channel_closed that
/// carries the unsent value back.
template <class T>
class send_error : public channel_closed {
   public:
    /// Built by send when the channel is closed; `value` is the value that was not sent.
    explicit send_error(T value)
        : channel_closed("weft::mpsc: send on a closed channel"),
          value_(std::make_shared<T>(std::move(value))) {}
    /// The value that was not sent.
    T& value() const noexcept { return *value_; }

   private:
    std::shared_ptr<T> value_;  // shared: exception objects must be copyable, T need not be
};

}  // namespace weft::mpsc
