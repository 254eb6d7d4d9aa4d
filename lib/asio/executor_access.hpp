// Library-internal construction of a weft::executor (users get one from a runtime or a
// handle; the constructor taking a scheduler and a shard is private).
#pragma once

#include <weft/asio/executor.hpp>

namespace weft::detail {

struct executor_access {
    static executor make(scheduler* s, boost::asio::io_context* shard) noexcept {
        return executor(s, shard);
    }
};

}  // namespace weft::detail
