// io_backend: how a task's tcp_stream reads and writes reach the kernel, chosen per runtime
// (builder::socket_io).
#pragma once

namespace weft::net {

/// How tcp_stream's transfers (read_some, read_exact, read_line, write_all, and the split
/// halves') are performed when a task makes them. Accept, connect, UDP and Asio operations
/// started through use_fiber always go through the worker's Asio reactor.
enum class io_backend {
    /// io_uring where the build has it (meson option `io_uring`) and the kernel grants a ring
    /// that runs completions cooperatively (Linux 5.19 or later), else reactor. The default.
    automatic,
    /// Each worker queues its tasks' transfers on its own io_uring ring and hands them to the
    /// kernel together, in one system call, when it runs out of tasks to run (and at least
    /// every 61 tasks); completions are collected from the ring's memory, with no call at
    /// all. The calling task waits meanwhile, even when the data is already there. If the
    /// build has no io_uring or the kernel refuses a ring, the runtime uses reactor instead
    /// and says so once on stderr.
    io_uring,
    /// Asio's reactor (epoll): each transfer is tried on the non-blocking socket first, and
    /// the task waits for readiness when the kernel says it would block.
    reactor,
};

/// The backend that tcp_stream transfers of the calling task use: io_uring or reactor, never
/// automatic (a worker sets its ring up here if it has not yet). std::logic_error outside a
/// task.
io_backend backend();

}  // namespace weft::net
