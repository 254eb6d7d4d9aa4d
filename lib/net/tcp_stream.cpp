// tcp_stream and its split halves.
//
// Two ways to the kernel (net::io_backend, chosen per runtime):
//   - io_uring: each transfer is queued on the worker's ring and the task waits; the worker
//     hands every queued transfer to the kernel in one call when it runs out of tasks (and in
//     its maintenance pass), and finds their completions in the ring's memory. A server with
//     many connections makes one system call per batch instead of two or three per message
//     (a receive that finds nothing, the readiness wait, the receive, the send): tcp_echo
//     went from 1.09x Tokio's time to 0.6x (docs/performance.md). A select branch's read
//     keeps the reactor's path below: it must not take bytes before its branch has won, and
//     a queued receive takes them as soon as they arrive.
//   - reactor: every transfer first tries the socket directly (it is in non-blocking mode),
//     and only when the kernel says "would block" starts the Asio operation with use_fiber
//     and suspends. A stream whose data is already there costs one system call and no switch.
// Both call consume_budget first, so a task that always finds data still yields.
//
// Halves: read_some/read_exact/read_line touch the socket's read side and rbuf_; write_all
// and shutdown_write the write side only. Asio's per-socket state (impl.state_) is written
// only when the socket is set up (non_blocking below), so a reader task and a writer task
// may start operations on the same socket concurrently: the reactor serialises them per
// descriptor under its own lock.
#include "address.hpp"

#include "../scheduler/thread_context.hpp"
#include "../scheduler/uring_ring.hpp"
#include "../scheduler/worker.hpp"

#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/net/tcp_stream.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace weft::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::size_t read_chunk = 4096;

// The calling task's worker's ring, when tcp_stream transfers go through it
// (net::io_backend); null on the reactor, and outside a task.
weft::detail::uring_ring* socket_ring() {
    if (weft::detail::current_task() == nullptr) return nullptr;
    weft::detail::worker* w = weft::detail::this_thread_context().w;
    return w != nullptr ? w->socket_ring() : nullptr;
}

// One transfer on the ring: queued, handed to the kernel with the worker's next flush, waited
// for. Returns the byte count, or -1 when the ring did not do it (no room, or the kernel said
// EAGAIN: a socket it would not wait on) and the caller should take the reactor's path. An
// error is set in `ec` (0 returned). An abort while waiting cancels the transfer and waits for
// it to end: a receive that took bytes in the same instant returns them (tcp_stream.hpp's
// promise), one the kernel cancelled throws task_cancelled having taken nothing.
std::int64_t ring_transfer(weft::detail::uring_ring& ring, bool send, int fd, void* buf,
                           std::size_t len, error_code& ec, const char* what,
                           std::source_location where) {
    weft::detail::uring_op op;
    op.w = weft::detail::current_waker(what);
    if (ring.queue_socket(send, fd, buf, len, op) < 0) return -1;
    weft::detail::wait_for_op(ring, op, what, where);
    if (op.result >= 0) return op.result;
    if (op.result == -EAGAIN) return -1;
    if (op.result == -ECANCELED) weft::detail::throw_if_cancelled();
    ec = error_code(static_cast<int>(-op.result), boost::system::system_category());
    return 0;
}

bool would_block(const error_code& ec) noexcept {
    return ec == asio::error::would_block || ec == asio::error::try_again;
}

// Reads what the socket holds, or suspends until it holds something. A request/response
// peer leaves the socket empty at almost every read: trying recv ourselves and then starting
// async_read_some, which retries the same recv before it waits (Asio's "speculative" read),
// cost a wasted system call per message. So after a read that had to wait, the next reads go
// straight to async_read_some, whose own attempt still takes data that is already there;
// a direct probe now and then lets a stream that turned busy return to the cheap path: after
// 8, 16 and 32 waits in a row, then every 64th (a probe that finds nothing is the wasted call
// again: every 8th read, as it was, cost tcp_echo 25k extra recvfrom per 100k round trips).
// (async_wait would not help: without the speculative read Asio re-arms the descriptor
// with epoll_ctl instead, measured: one epoll_ctl per message in place of the recv.)
// A select branch (detail/select_claim.hpp) must not take bytes after its select was lost,
// but a read through use_fiber consumes in the reactor, before the branch could claim. So a
// branch waits for readiness only (async_wait consumes nothing), claims, and then reads
// without blocking. If that read finds nothing after all (spurious readiness, or another
// reader took it), the branch keeps waiting as the winner: it holds the claim, and no other
// branch could take anything meanwhile. Other tasks keep the speculative path below.
std::size_t receive_claimed(asio::ip::tcp::socket& socket,
                            const weft::detail::claim_record* claimer, asio::mutable_buffer buf,
                            error_code& ec, const char* what, std::source_location where) {
    for (;;) {
        // Readiness by poll(2), not FIONREAD: end of stream is readable too, and a branch
        // that waited for it would lose every round to a sibling that is always ready.
        detail::wait_readable_and_claim(socket, claimer, what, where, ec);
        if (ec) return 0;
        std::size_t n = socket.read_some(buf, ec);
        if (!would_block(ec)) return n;
    }
}

std::size_t receive_some(asio::ip::tcp::socket& socket, std::uint32_t& wait_streak,
                         asio::mutable_buffer buf, error_code& ec, const char* what,
                         std::source_location where) {
    if (const weft::detail::claim_record* claimer = weft::detail::current_claimer()) {
        return receive_claimed(socket, claimer, buf, ec, what, where);
    }
    if (weft::detail::uring_ring* ring = socket_ring()) {
        std::int64_t r = ring_transfer(*ring, false, socket.native_handle(), buf.data(), buf.size(),
                                       ec, what, where);
        if (r >= 0) {
            if (!ec && r == 0 && buf.size() > 0) ec = asio::error::eof;
            return static_cast<std::size_t>(r);
        }
    }
    // The probe interval: 8 up to 15 waits in a row, then the streak's highest power of two,
    // at most 64 (see above). A power of two: a mask, not a division, on every read.
    const std::uint32_t probe_every = std::clamp<std::uint32_t>(std::bit_floor(wait_streak), 8, 64);
    if ((wait_streak & (probe_every - 1)) == 0) {
        std::size_t n = socket.read_some(buf, ec);
        if (!would_block(ec)) {
            wait_streak = 0;
            return n;
        }
    }
    ++wait_streak;
    std::size_t n = socket.async_read_some(buf, detail::wait_token(what, where)[ec]);
    // After end of stream Asio stops reading speculatively and waits for an edge that never
    // comes: a later read must try the socket directly (it reports eof again at once).
    if (ec) wait_streak = 0;
    return n;
}
}  // namespace

tcp_stream::tcp_stream(asio::ip::tcp::socket socket)
    : socket_(std::move(socket)) {
    if (socket_.is_open()) socket_.non_blocking(true);
}

tcp_stream::~tcp_stream() = default;

tcp_stream tcp_stream::connect(std::string_view addr, std::source_location where) {
    detail::parsed_address parsed = detail::parse_address(addr);
    asio::any_io_executor ex = detail::new_socket_executor("tcp_stream::connect");
    std::vector<asio::ip::address> candidates = detail::resolve(parsed, where);
    error_code last;
    for (const asio::ip::address& a : candidates) {
        asio::ip::tcp::socket s(ex);
        error_code ec;
        s.async_connect({a, parsed.port}, detail::wait_token("tcp_stream::connect", where)[ec]);
        if (!ec) return tcp_stream(std::move(s));
        last = ec;
    }
    throw weft::detail::readable_system_error(last, "weft::net::tcp_stream::connect(\"" +
                                                        std::string(addr) + "\")");
}

tcp_stream tcp_stream::connect(const asio::ip::tcp::endpoint& ep, std::source_location where) {
    asio::ip::tcp::socket s(detail::new_socket_executor("tcp_stream::connect"));
    error_code ec;
    s.async_connect(ep, detail::wait_token("tcp_stream::connect", where)[ec]);
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::connect");
    return tcp_stream(std::move(s));
}

std::size_t tcp_stream::read_buffered(asio::mutable_buffer buf) noexcept {
    std::size_t n = std::min(buf.size(), rbuf_.size() - rpos_);
    std::memcpy(buf.data(), rbuf_.data() + rpos_, n);
    rpos_ += n;
    if (rpos_ == rbuf_.size()) {
        rbuf_.clear();
        rpos_ = 0;
    }
    return n;
}

std::size_t tcp_stream::read_some(asio::mutable_buffer buf, std::source_location where) {
    weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
    weft::detail::consume_budget(where);
    while (rpos_ < rbuf_.size()) {
        // Buffered bytes: a select branch takes them only once it has won; refused, it waits
        // for the race to reopen and looks again.
        if (weft::detail::claim_current()) return read_buffered(buf);
        weft::detail::wait_reopened("tcp_stream::read_some", where);
    }
    error_code ec;
    std::size_t n = receive_some(socket_, wait_streak_, buf, ec, "tcp_stream::read_some", where);
    if (ec == asio::error::eof) return 0;
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::read_some");
    return n;
}

void tcp_stream::read_exact(asio::mutable_buffer buf, std::source_location where) {
    while (buf.size() > 0) {
        std::size_t n = read_some(buf, where);
        if (n == 0) detail::throw_error(asio::error::eof, "weft::net::tcp_stream::read_exact");
        buf += n;
    }
}

std::size_t tcp_stream::fill_buffer(std::source_location where) {
    // Compact, then read one chunk past the end of the buffered bytes.
    if (rpos_ > 0) {
        rbuf_.erase(0, rpos_);
        rpos_ = 0;
    }
    std::size_t old = rbuf_.size();
    rbuf_.resize(old + read_chunk);
    asio::mutable_buffer dst(rbuf_.data() + old, read_chunk);
    error_code ec;
    std::size_t n = 0;
    try {
        n = receive_some(socket_, wait_streak_, dst, ec, "tcp_stream::read_line", where);
    } catch (...) {
        rbuf_.resize(old);  // cancelled: the partial line stays buffered, nothing lost
        throw;
    }
    rbuf_.resize(old + (ec ? 0 : n));
    if (ec == asio::error::eof) return 0;
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::read_line");
    return n;
}

std::size_t tcp_stream::read_line(std::string& line, std::source_location where) {
    return read_line(line, std::numeric_limits<std::size_t>::max(), where);
}

std::size_t tcp_stream::read_line(std::string& line, std::size_t max_length,
                                  std::source_location where) {
    weft::detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
    weft::detail::consume_budget(where);
    auto too_long = [max_length] {
        throw std::length_error("weft::net::tcp_stream::read_line: a line is longer than " +
                                std::to_string(max_length) + " bytes (the max_length given)");
    };
    std::size_t scanned = rpos_;
    for (;;) {
        std::size_t nl = rbuf_.find('\n', scanned);
        if (nl != std::string::npos) {
            // A select branch takes a line only once it has won; refused, it leaves it
            // buffered, waits for the race to reopen and starts over.
            if (!weft::detail::claim_current()) {
                weft::detail::wait_reopened("tcp_stream::read_line", where);
                scanned = rpos_;
                continue;
            }
            std::size_t count = nl + 1 - rpos_;
            if (count > max_length) too_long();
            line.append(rbuf_, rpos_, count);
            rpos_ = nl + 1;
            if (rpos_ == rbuf_.size()) {
                rbuf_.clear();
                rpos_ = 0;
            }
            return count;
        }
        std::size_t searched = rbuf_.size() - rpos_;  // fill_buffer compacts to rpos_ == 0
        if (searched >= max_length) too_long();       // no '\n' in max_length bytes
        if (fill_buffer(where) == 0) {
            if (!weft::detail::claim_current()) {
                weft::detail::wait_reopened("tcp_stream::read_line", where);
                scanned = rpos_;
                continue;
            }
            std::size_t count = rbuf_.size() - rpos_;
            line.append(rbuf_, rpos_, count);
            rbuf_.clear();
            rpos_ = 0;
            return count;
        }
        scanned = searched;
    }
}

void tcp_stream::write_all(asio::const_buffer buf, std::source_location where) {
    weft::detail::consume_budget(where);
    if (weft::detail::uring_ring* ring = socket_ring()) {
        while (buf.size() > 0) {
            error_code ec;
            std::int64_t r =
                ring_transfer(*ring, true, socket_.native_handle(), const_cast<void*>(buf.data()),
                              buf.size(), ec, "tcp_stream::write_all", where);
            if (r < 0) break;
            if (ec) detail::throw_error(ec, "weft::net::tcp_stream::write_all");
            buf += static_cast<std::size_t>(r);
        }
    }
    while (buf.size() > 0) {
        error_code ec;
        std::size_t n = socket_.write_some(buf, ec);
        if (!ec) {
            buf += n;
            continue;
        }
        if (would_block(ec)) {
            asio::async_write(socket_, buf, detail::wait_token("tcp_stream::write_all", where)[ec]);
            if (ec) detail::throw_error(ec, "weft::net::tcp_stream::write_all");
            return;
        }
        detail::throw_error(ec, "weft::net::tcp_stream::write_all");
    }
}

void tcp_stream::shutdown_write() {
    error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::shutdown_write");
}

void tcp_stream::set_nodelay(bool on) {
    error_code ec;
    socket_.set_option(asio::ip::tcp::no_delay(on), ec);
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::set_nodelay");
}

asio::ip::tcp::endpoint tcp_stream::peer_addr() const {
    error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::peer_addr");
    return ep;
}

asio::ip::tcp::endpoint tcp_stream::local_addr() const {
    error_code ec;
    auto ep = socket_.local_endpoint(ec);
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::local_addr");
    return ep;
}

std::pair<tcp_read_half, tcp_write_half> tcp_stream::split() && {
    auto shared = std::make_shared<tcp_stream>(std::move(*this));
    return {tcp_read_half(shared), tcp_write_half(shared)};
}

// ---- halves ------------------------------------------------------------------------------

tcp_read_half::tcp_read_half(std::shared_ptr<tcp_stream> s) noexcept
    : s_(std::move(s)) {}
tcp_read_half::~tcp_read_half() = default;

std::size_t tcp_read_half::read_some(asio::mutable_buffer buf, std::source_location where) {
    return s_->read_some(buf, where);
}
void tcp_read_half::read_exact(asio::mutable_buffer buf, std::source_location where) {
    s_->read_exact(buf, where);
}
std::size_t tcp_read_half::read_line(std::string& line, std::source_location where) {
    return s_->read_line(line, where);
}

std::size_t tcp_read_half::read_line(std::string& line, std::size_t max_length,
                                     std::source_location where) {
    return s_->read_line(line, max_length, where);
}

asio::ip::tcp::endpoint tcp_read_half::peer_addr() const { return s_->peer_addr(); }
asio::ip::tcp::endpoint tcp_read_half::local_addr() const { return s_->local_addr(); }

tcp_write_half::tcp_write_half(std::shared_ptr<tcp_stream> s) noexcept
    : s_(std::move(s)) {}

tcp_write_half& tcp_write_half::operator=(tcp_write_half&& o) noexcept {
    if (this != &o) {
        release();
        s_ = std::move(o.s_);
    }
    return *this;
}

tcp_write_half::~tcp_write_half() { release(); }

void tcp_write_half::release() noexcept {
    if (!s_) return;
    error_code ignored;
    s_->socket().shutdown(asio::socket_base::shutdown_send, ignored);
    s_.reset();
}

void tcp_write_half::write_all(asio::const_buffer buf, std::source_location where) {
    s_->write_all(buf, where);
}
void tcp_write_half::shutdown_write() { s_->shutdown_write(); }
asio::ip::tcp::endpoint tcp_write_half::peer_addr() const { return s_->peer_addr(); }
asio::ip::tcp::endpoint tcp_write_half::local_addr() const { return s_->local_addr(); }

io_backend backend() {
    if (weft::detail::current_task() == nullptr) {
        throw std::logic_error(
            "weft::net::backend: called outside a task (only a task's tcp_stream transfers "
            "have a backend to choose)");
    }
    return socket_ring() != nullptr ? io_backend::io_uring : io_backend::reactor;
}

}  // namespace weft::net
