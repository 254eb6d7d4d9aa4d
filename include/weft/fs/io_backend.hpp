// io_backend: how weft::fs reaches the kernel from a task, chosen per runtime
// (builder::file_io).
#pragma once

namespace weft::fs {

/// How file calls made from a task are performed. On a plain thread or the blocking pool a
/// file call simply runs on the calling thread, whatever the backend.
enum class io_backend {
    /// io_uring where the build has it (meson option `io_uring`) and the kernel grants a
    /// ring, else thread_pool. The default.
    automatic,
    /// Each worker submits its tasks' file calls to a ring of its own, set up on first use;
    /// the task waits and the worker runs other tasks meanwhile, with no thread hand-off. If
    /// the build has no io_uring or the kernel refuses a ring (EPERM under seccomp, ENOSYS),
    /// the runtime uses thread_pool instead and says so once on stderr.
    io_uring,
    /// Each call runs on the runtime's blocking pool while the task waits, as tokio::fs does.
    thread_pool,
};

/// The backend that file calls of the calling task use: io_uring or thread_pool, never
/// automatic (a worker sets its ring up here if it has not yet). std::logic_error outside a
/// task.
io_backend backend();

}  // namespace weft::fs
