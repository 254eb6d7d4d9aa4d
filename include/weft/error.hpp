// Error codes and exception types shared by every area of weft.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>

namespace weft {

namespace error {
/// Errors reported through `boost::system::error_code` by weft's channels and semaphores.
enum errors {
    channel_closed = 1,  ///< the other side of a channel is gone
    semaphore_closed,    ///< the semaphore was closed
    lagged,              ///< a broadcast receiver fell behind and missed values
};

/// The category of weft::error::errors ("weft").
const boost::system::error_category& category() noexcept;

/// The error_code of `e` in weft's error category (what Asio-form handlers receive).
inline boost::system::error_code make_error_code(errors e) noexcept {
    return {static_cast<int>(e), category()};
}
}  // namespace error

/// Thrown by free functions that need a runtime (spawn, handle::current(), net, ...) when the
/// calling thread is neither a task, a worker thread nor a handler running on one.
class no_runtime : public std::logic_error {
   public:
    using std::logic_error::logic_error;
};

/// A channel's other side is gone (error::channel_closed).
class channel_closed : public boost::system::system_error {
   public:
    channel_closed()
        : boost::system::system_error(error::make_error_code(error::channel_closed)) {}
    /// With a message naming the operation.
    explicit channel_closed(const std::string& what)
        : boost::system::system_error(error::make_error_code(error::channel_closed), what) {}
};

/// The semaphore was closed (error::semaphore_closed).
class semaphore_closed : public boost::system::system_error {
   public:
    semaphore_closed()
        : boost::system::system_error(error::make_error_code(error::semaphore_closed)) {}
};

/// Thrown by weft::timeout when its deadline passes before the wrapped call finished.
class elapsed : public std::runtime_error {
   public:
    elapsed()
        : std::runtime_error("weft::timeout: deadline elapsed") {}
};

}  // namespace weft

namespace boost::system {
template <>
struct is_error_code_enum<weft::error::errors> : std::true_type {};
}  // namespace boost::system
