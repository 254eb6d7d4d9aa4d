// Where a completion handler that has no associated executor runs: on a weft worker of the
// calling context's runtime, or on asio's system executor outside any runtime.
#pragma once

#include <boost/asio/any_io_executor.hpp>

namespace weft::detail {

boost::asio::any_io_executor default_completion_executor();

}  // namespace weft::detail
