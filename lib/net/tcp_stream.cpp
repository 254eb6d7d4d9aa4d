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
//
// The reactor's registration. Asio puts every socket in its io_context's epoll set when it is
// opened or adopted, and on the ring backend nothing waits there: yet every segment that
// arrives runs epoll's callback under the socket's wait-queue lock, and the next epoll_wait
// polls the socket again (tcp_echo: 5.0 us a round trip with the registration, 4.2 without;
// docs/performance.md). So the first transfer on the ring takes the socket out
// (asio's release(), one EPOLL_CTL_DEL; the descriptor stays open in fd_), and whatever
// needs the reactor puts it back with assign() and keeps it there. Invariants of
// registration_, which the two halves' tasks may move at the same time:
//   - fresh: socket_ is open and registered (or was never open); nobody has chosen.
//   - left: socket_ is released (closed as far as Asio knows); fd_ is the open descriptor
//     and this stream closes it.
//   - committed: socket_ is registered and stays so; its descriptor is socket_'s (a user
//     may have closed it through socket()).
//   - moving: one task is releasing or assigning socket_; nobody else touches socket_.
// Only fresh -> left and left -> committed run Asio calls, each by the task that won the CAS
// into moving; fresh -> committed is the CAS alone. Nothing leaves committed, so a reactor
// operation (a select branch's wait, a fallback, a user's async op through socket()) never
// sees its socket released under it, and a reference from socket() stays good.
#include "address.hpp"

#include "../scheduler/thread_context.hpp"
#include "../scheduler/uring_ring.hpp"
#include "../scheduler/worker.hpp"

#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/net/tcp_stream.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

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

error_code last_error() noexcept { return error_code(errno, boost::system::system_category()); }

// One end of `fd`'s connection (`call` is getsockname or getpeername), read from the kernel
// directly: a stream that left the reactor has no open socket_ to ask.
asio::ip::tcp::endpoint endpoint_of(int fd, int (*call)(int, sockaddr*, socklen_t*),
                                    error_code& ec) noexcept {
    asio::ip::tcp::endpoint ep;
    socklen_t len = static_cast<socklen_t>(ep.capacity());
    if (call(fd, ep.data(), &len) != 0) {
        ec = last_error();
        return {};
    }
    ep.resize(len);  // a TCP socket's address (sockaddr_in or _in6) fits capacity()
    return ep;
}
}  // namespace

std::size_t tcp_stream::receive_some(asio::mutable_buffer buf, error_code& ec, const char* what,
                                     std::source_location where) {
    if (const weft::detail::claim_record* claimer = weft::detail::current_claimer()) {
        use_reactor(what);
        return receive_claimed(socket_, claimer, buf, ec, what, where);
    }
    if (weft::detail::uring_ring* ring = socket_ring()) {
        std::int64_t r =
            ring_transfer(*ring, false, ring_fd(), buf.data(), buf.size(), ec, what, where);
        if (r >= 0) {
            if (!ec && r == 0 && buf.size() > 0) ec = asio::error::eof;
            return static_cast<std::size_t>(r);
        }
    }
    use_reactor(what);
    // The probe interval: 8 up to 15 waits in a row, then the streak's highest power of two,
    // at most 64 (see above). A power of two: a mask, not a division, on every read.
    const std::uint32_t probe_every =
        std::clamp<std::uint32_t>(std::bit_floor(wait_streak_), 8, 64);
    if ((wait_streak_ & (probe_every - 1)) == 0) {
        std::size_t n = socket_.read_some(buf, ec);
        if (!would_block(ec)) {
            wait_streak_ = 0;
            return n;
        }
    }
    ++wait_streak_;
    std::size_t n = socket_.async_read_some(buf, detail::wait_token(what, where)[ec]);
    // After end of stream Asio stops reading speculatively and waits for an edge that never
    // comes: a later read must try the socket directly (it reports eof again at once).
    if (ec) wait_streak_ = 0;
    return n;
}

tcp_stream::tcp_stream(asio::ip::tcp::socket socket)
    : socket_(std::move(socket)),
      fd_(socket_.is_open() ? socket_.native_handle() : -1) {
    if (socket_.is_open()) socket_.non_blocking(true);
}

// Moves happen with no other task using either stream (the halves share one stream and never
// move it), so relaxed loads and stores of registration_ suffice.
tcp_stream::tcp_stream(tcp_stream&& o) noexcept
    : socket_(std::move(o.socket_)),
      fd_(std::exchange(o.fd_, -1)),
      registration_(o.registration_.exchange(registration::fresh, std::memory_order_relaxed)),
      rbuf_(std::move(o.rbuf_)),
      rpos_(std::exchange(o.rpos_, 0)),
      wait_streak_(std::exchange(o.wait_streak_, 0)) {}

tcp_stream& tcp_stream::operator=(tcp_stream&& o) noexcept {
    if (this != &o) {
        close_left();
        socket_ = std::move(o.socket_);  // closes an open socket_ of ours first
        fd_ = std::exchange(o.fd_, -1);
        registration_.store(
            o.registration_.exchange(registration::fresh, std::memory_order_relaxed),
            std::memory_order_relaxed);
        rbuf_ = std::move(o.rbuf_);
        rpos_ = std::exchange(o.rpos_, 0);
        wait_streak_ = std::exchange(o.wait_streak_, 0);
    }
    return *this;
}

tcp_stream::~tcp_stream() { close_left(); }

// A released socket_ does not close fd_: this stream does.
void tcp_stream::close_left() noexcept {
    if (registration_.load(std::memory_order_relaxed) == registration::left && fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = -1;
}

// The descriptor a ring transfer uses, taking the socket out of the reactor first if nobody
// has chosen yet.
int tcp_stream::ring_fd() noexcept {
    registration r = registration_.load(std::memory_order_acquire);
    if (r == registration::fresh) {
        if (registration_.compare_exchange_strong(r, registration::moving,
                                                  std::memory_order_acquire)) {
            // safety: we hold `moving`, so no other task touches socket_ until the release
            // store below (it pairs with the acquire loads in use_reactor and here). A failed
            // release leaves the socket registered, which costs only the wake-ups.
            error_code ec;
            if (socket_.is_open()) socket_.release(ec);
            registration_.store(ec ? registration::committed : registration::left,
                                std::memory_order_release);
        }
        // lost the CAS: another task moved it, and current_fd() reads where it stands now
    }
    return current_fd();
}

// Makes sure socket_ is registered and stays so, before any reactor operation on it.
void tcp_stream::use_reactor(const char* what) {
    for (;;) {
        registration r = registration_.load(std::memory_order_acquire);
        switch (r) {
            case registration::committed:
                return;
            case registration::fresh:
                if (registration_.compare_exchange_weak(r, registration::committed,
                                                        std::memory_order_acquire)) {
                    return;
                }
                break;
            case registration::left:
                if (registration_.compare_exchange_weak(r, registration::moving,
                                                        std::memory_order_acquire)) {
                    // safety: we hold `moving` (see ring_fd). assign() registers fd_ again;
                    // if epoll refuses it, the stream stays out and fd_ stays ours.
                    error_code ec;
                    const auto protocol = endpoint_of(fd_, ::getsockname, ec).protocol();
                    if (!ec) socket_.assign(protocol, fd_, ec);
                    if (!ec) socket_.non_blocking(true, ec);
                    registration_.store(ec ? registration::left : registration::committed,
                                        std::memory_order_release);
                    if (ec) detail::throw_error(ec, what);
                    return;
                }
                break;
            case registration::moving:
                // Another half's task is in release() or assign(): one system call.
                std::this_thread::yield();
                break;
        }
    }
}

// The descriptor for a ring transfer or a call that needs no reactor (options, addresses,
// shutdown). committed: a user may have closed the socket through socket(), and fd_'s number
// may name another file by now; socket_ knows (-1 once closed), and nothing moves socket_ out
// of committed, so reading it is safe. left and moving: fd_ is open.
int tcp_stream::current_fd() const noexcept {
    // Asio's native_handle() is not const but only reads the descriptor.
    return registration_.load(std::memory_order_acquire) == registration::committed
               ? const_cast<asio::ip::tcp::socket&>(socket_).native_handle()
               : fd_;
}

asio::ip::tcp::socket& tcp_stream::socket() {
    use_reactor("weft::net::tcp_stream::socket");
    return socket_;
}

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
    std::size_t n = receive_some(buf, ec, "tcp_stream::read_some", where);
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
        n = receive_some(dst, ec, "tcp_stream::read_line", where);
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
            std::int64_t r = ring_transfer(*ring, true, ring_fd(), const_cast<void*>(buf.data()),
                                           buf.size(), ec, "tcp_stream::write_all", where);
            if (r < 0) break;
            if (ec) detail::throw_error(ec, "weft::net::tcp_stream::write_all");
            buf += static_cast<std::size_t>(r);
        }
        if (buf.size() == 0) return;
    }
    use_reactor("weft::net::tcp_stream::write_all");
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

// The calls below need the descriptor, not the reactor: they go to the kernel directly, so
// a stream that left the reactor stays out.
void tcp_stream::shutdown_send(error_code& ec) noexcept {
    ec = ::shutdown(current_fd(), SHUT_WR) == 0 ? error_code() : last_error();
}

void tcp_stream::shutdown_write() {
    error_code ec;
    shutdown_send(ec);
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::shutdown_write");
}

void tcp_stream::set_nodelay(bool on) {
    int v = on ? 1 : 0;
    if (::setsockopt(current_fd(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) {
        detail::throw_error(last_error(), "weft::net::tcp_stream::set_nodelay");
    }
}

asio::ip::tcp::endpoint tcp_stream::peer_addr() const {
    error_code ec;
    auto ep = endpoint_of(current_fd(), ::getpeername, ec);
    if (ec) detail::throw_error(ec, "weft::net::tcp_stream::peer_addr");
    return ep;
}

asio::ip::tcp::endpoint tcp_stream::local_addr() const {
    error_code ec;
    auto ep = endpoint_of(current_fd(), ::getsockname, ec);
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
    s_->shutdown_send(ignored);
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
