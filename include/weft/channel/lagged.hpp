// broadcast::lagged: what a broadcast receiver that fell behind is told.
#pragma once

#include <weft/error.hpp>

#include <boost/system/system_error.hpp>

#include <cstdint>
#include <string>

namespace weft::broadcast {

/// Thrown by a broadcast receiver that fell behind: `skipped()` values were overwritten before
/// it read them. The receiver has moved on to the oldest value still kept.
class lagged : public boost::system::system_error {
   public:
    /// Built by recv when the receiver fell behind by `skipped` values.
    explicit lagged(std::uint64_t skipped)
        : boost::system::system_error(error::make_error_code(error::lagged),
                                      "weft::broadcast: receiver lagged by " +
                                          std::to_string(skipped)),
          skipped_(skipped) {}
    /// How many values this receiver missed.
    [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }

   private:
    std::uint64_t skipped_;
};

}  // namespace weft::broadcast
