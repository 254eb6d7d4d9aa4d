// wait_status: how a wait ended, shared by the waiter lists (detail/wait_list.hpp) and the
// operations of a select over operations (detail/select_op.hpp). Not for users.
#pragma once

#include <cstdint>

namespace weft::detail {

/// Final statuses of a wait. Primitives may define their own from `user` on.
namespace wait_status {
inline constexpr std::uint32_t waiting = 0;  ///< queued: nobody ended the wait yet
inline constexpr std::uint32_t granted = 1;  ///< got what it waited for
inline constexpr std::uint32_t closed = 2;   ///< the primitive was closed
inline constexpr std::uint32_t aborted = 3;  ///< Asio waiter cancelled through its slot
/// A select claim for the waiter's task was refused: nothing was granted; the waiter waits
/// for the race to reopen (wait_reopened) and retries. Never given to an Asio waiter (those
/// carry no claimer).
inline constexpr std::uint32_t refused = 4;
inline constexpr std::uint32_t user = 16;
}  // namespace wait_status

}  // namespace weft::detail
