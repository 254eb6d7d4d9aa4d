// Address parsing and name resolution for weft::net, and the choices every net call shares:
// which io_context a new socket goes on, and the completion token its waits use.
#pragma once

#include <weft/asio/use_fiber.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <optional>
#include <poll.h>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

namespace weft::net::detail {

/// "host:port" or "[v6]:port", split. `literal` is set when host is a numeric address.
struct parsed_address {
    std::string host;
    std::optional<boost::asio::ip::address> literal;
    std::uint16_t port = 0;
};

/// Parses `addr`; std::invalid_argument naming it when it is malformed.
parsed_address parse_address(std::string_view addr);

/// The addresses `addr` stands for, in resolver order: the literal itself, or the name
/// resolved on the runtime's blocking pool (inline when already on a thread that may block).
/// system_error naming the host when resolution fails.
std::vector<boost::asio::ip::address> resolve(const parsed_address& addr,
                                              std::source_location where);

/// The executor a new socket is built on: the calling worker's shard, else (blocking pool)
/// the runtime's shard 0. weft::no_runtime outside a runtime; `what` names the call.
boost::asio::any_io_executor new_socket_executor(const char* what);

/// The io_context of the calling runtime's shard 0 (for per-runtime singletons such as the
/// signal set). weft::no_runtime outside a runtime.
boost::asio::io_context& runtime_home_context(const char* what);

/// use_fiber as weft's own calls use it: also on threads that may block, named for dump().
inline use_fiber_t wait_token(const char* what, std::source_location where) noexcept {
    return weft::detail::use_fiber_access::internal_token(what, where);
}

/// Whether `fd` has something to read (a byte, a datagram, a connection, end of stream or an
/// error) now, without taking it. One poll(2) with a zero timeout.
inline bool readable_now(int fd) noexcept {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

/// For a task that is a select branch (`claimer`, from current_claimer()): a read through
/// use_fiber would consume in the reactor before the branch could claim its select, so wait
/// for readiness only (async_wait consumes nothing), then claim (refused, it has taken
/// nothing: it waits for the race to reopen and starts over). The caller then reads without
/// blocking; if that finds nothing after all it calls this again, keeping its claim: it
/// waits on as the winner. `ec` is set when the wait failed.
template <class Socket>
void wait_readable_and_claim(Socket& s, const weft::detail::claim_record* claimer, const char* what,
                             std::source_location where, boost::system::error_code& ec) {
    // The caller may pass the would_block of its read after an earlier readiness that was
    // spurious; a socket readable at once must not return it as this wait's failure.
    ec.clear();
    for (;;) {
        if (!readable_now(s.native_handle())) {
            s.async_wait(Socket::wait_read, wait_token(what, where)[ec]);
            if (ec) return;
        }
        if (weft::detail::claim_select(claimer)) return;
        weft::detail::wait_reopened(what, where);
    }
}

/// Throws boost::system::system_error(ec) whose what() is "<what>: <message>"
/// (weft::detail::readable_system_error).
[[noreturn]] void throw_error(const boost::system::error_code& ec, const char* what);

}  // namespace weft::net::detail
