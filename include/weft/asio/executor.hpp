// weft::executor: a standard Asio executor that runs function objects on a runtime's workers,
// so asio::post/dispatch/defer, strands and co_spawn share the workers with fibers.
#pragma once

#include <weft/detail/task_header.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {

struct executor_access;
void report_handler_exception(std::exception_ptr e) noexcept;

/// A function object queued like a task but run inline on a worker's own stack (no fiber):
/// the work of an Asio handler. Not a task: current_task() is null while it runs.
template <class F>
class handler_task final : public task_header {
   public:
    template <class G>
    explicit handler_task(G&& g)
        : task_header(std::source_location::current()),
          f_(std::forward<G>(g)) {
        mark_inline();
    }
    void run() noexcept override {
        try {
            std::move(f_)();
        } catch (...) {
            report_handler_exception(std::current_exception());
        }
    }
    void drop_callable() noexcept override {}

   private:
    F f_;
};

enum executor_flags : std::uint8_t {
    exec_blocking_never = 1,
    exec_continuation = 2,
    exec_tracked = 4,
};

/// Queues a handler task on `sched` (see executor::execute).
void submit_handler(scheduler* sched, task_header* t, std::uint8_t flags);
/// True on a worker thread of `sched` outside a task (where blocking.possibly runs inline).
bool on_worker_of(const scheduler* sched) noexcept;
boost::asio::io_context& shard_of(scheduler* sched) noexcept;
/// The shard a floating executor (obtained off the workers) binds to: the next in turn.
boost::asio::io_context& next_shard(scheduler* sched) noexcept;
/// The current worker's shard when called on a worker of `sched`, else null (floating).
boost::asio::io_context* shard_here(scheduler* sched) noexcept;
void work_started(scheduler* sched) noexcept;
void work_finished(scheduler* sched) noexcept;

}  // namespace detail

/// Asio executor of a weft runtime (runtime::get_executor(), handle::get_executor()).
/// Properties: blocking.possibly (the default, as for io_context: execute runs the function
/// inline when already on one of the runtime's workers outside a task; so asio::dispatch
/// does) / blocking.never (always queued; what asio::post and defer require), relationship.fork /
/// continuation (continuation runs next on the current worker, through the LIFO slot),
/// outstanding_work.untracked / tracked. Not serialising: wrap it in asio::make_strand for that.
/// Must not outlive its runtime (like an io_context's executor).
///
/// query(execution::context) is an io_context shard, and an I/O object built from the executor
/// is bound to it (its reactor work runs on the worker that owns the shard). An executor
/// obtained on a worker (in a task or a handler) answers that worker's shard. One obtained off
/// the workers (`rt.get_executor()` in main) is *floating*: it binds to a shard at its first
/// query, the next shard in turn, and keeps it; copies made before that bind on their own. So
/// a server that makes a strand per connection from it (`asio::make_strand(ex)`, as Asio
/// servers do) spreads its connections over the shards, and everything built from one such
/// strand (its socket, its timers) shares the strand's shard. Without that, every connection
/// of a server set up in main landed on one shard, and one worker ran all the reactor work
/// (docs/architecture.md, "Drop-in I/O placement").
///
/// ```cpp
/// asio::post(rt.get_executor(), [] {
///     // a handler on a worker: a runtime context, not a task; it must not wait,
///     weft::spawn([] { weft::sleep_for(1ms); });  // so it spawns a task for that
/// });
/// auto strand = asio::make_strand(rt.get_executor());
/// asio::co_spawn(rt.get_executor(), coroutine(), asio::detached);
/// ```
class executor {
   public:
    /// Copies the properties; a tracked copy counts as outstanding work of its own.
    executor(const executor& o) noexcept
        : executor(o.sched_, o.io_.load(std::memory_order_acquire), o.flags_) {}
    /// Moves, taking over the outstanding-work count of `o` (which becomes untracked).
    executor(executor&& o) noexcept
        : sched_(o.sched_),
          io_(o.io_.load(std::memory_order_acquire)),
          flags_(o.flags_) {
        o.flags_ &= static_cast<std::uint8_t>(~detail::exec_tracked);
    }
    /// Copy assignment (as the copy constructor).
    executor& operator=(const executor& o) noexcept {
        executor tmp(o);
        swap(tmp);
        return *this;
    }
    /// Move assignment (as the move constructor).
    executor& operator=(executor&& o) noexcept {
        executor tmp(std::move(o));
        swap(tmp);
        return *this;
    }
    ~executor() {
        if (flags_ & detail::exec_tracked) detail::work_finished(sched_);
    }

    template <class F>
    /// Runs `f()` on the runtime: inline if this executor is blocking.possibly and the caller is
    /// one of the runtime's workers outside a task, otherwise queued as a handler task (stolen and
    /// balanced like a task; relationship.continuation queues it in the current worker's LIFO
    /// slot). `f` runs on a worker's own stack, not in a fiber: it is a runtime context but not
    /// a task, so suspending weft calls inside it throw std::logic_error; spawn a task instead.
    /// An exception escaping `f` goes to the runtime's unhandled-exception policy.
    void execute(F&& f) const {
        using fn = std::decay_t<F>;
        if (!(flags_ & detail::exec_blocking_never) && detail::on_worker_of(sched_)) {
            fn local(std::forward<F>(f));
            std::move(local)();
            return;
        }
        detail::submit_handler(sched_, new detail::handler_task<fn>(std::forward<F>(f)), flags_);
    }

    /// Equal when both refer to the same runtime with the same properties: they run functions
    /// alike, whatever shard each is bound to (which only places the I/O objects built from
    /// them; a floating executor and its bound copies stay equal).
    bool operator==(const executor& o) const noexcept {
        return sched_ == o.sched_ && flags_ == o.flags_;
    }
    /// Negation of operator==.
    bool operator!=(const executor& o) const noexcept { return !(*this == o); }

    /// execution::context: the io_context shard of this executor (see the class: a floating
    /// executor binds here); I/O objects built from this executor are bound to it.
    [[nodiscard]] boost::asio::io_context& query(boost::asio::execution::context_t) const noexcept {
        return bind();
    }
    /// execution::blocking: possibly (the default) or never.
    [[nodiscard]] boost::asio::execution::blocking_t query(
        boost::asio::execution::blocking_t) const noexcept {
        if (flags_ & detail::exec_blocking_never) return boost::asio::execution::blocking.never;
        return boost::asio::execution::blocking.possibly;
    }
    /// execution::relationship: fork (the default) or continuation.
    [[nodiscard]] boost::asio::execution::relationship_t query(
        boost::asio::execution::relationship_t) const noexcept {
        if (flags_ & detail::exec_continuation)
            return boost::asio::execution::relationship.continuation;
        return boost::asio::execution::relationship.fork;
    }
    /// execution::outstanding_work: untracked (the default) or tracked.
    [[nodiscard]] boost::asio::execution::outstanding_work_t query(
        boost::asio::execution::outstanding_work_t) const noexcept {
        if (flags_ & detail::exec_tracked) return boost::asio::execution::outstanding_work.tracked;
        return boost::asio::execution::outstanding_work.untracked;
    }

    /// A copy that always queues (what asio::post and asio::defer require).
    [[nodiscard]] executor require(boost::asio::execution::blocking_t::never_t) const noexcept {
        return with(detail::exec_blocking_never, 0);
    }
    /// A copy that may run the function inline when called on a worker outside a task.
    [[nodiscard]] executor require(boost::asio::execution::blocking_t::possibly_t) const noexcept {
        return with(0, detail::exec_blocking_never);
    }
    /// A copy whose functions are queued like newly spawned tasks.
    [[nodiscard]] executor require(boost::asio::execution::relationship_t::fork_t) const noexcept {
        return with(0, detail::exec_continuation);
    }
    /// A copy whose functions run next on the current worker (its LIFO slot), as a continuation
    /// of the running handler.
    [[nodiscard]] executor require(
        boost::asio::execution::relationship_t::continuation_t) const noexcept {
        return with(detail::exec_continuation, 0);
    }
    /// A copy that counts as outstanding work while it exists (like io_context's
    /// executor_work_guard); the runtime still shuts down when destroyed.
    [[nodiscard]] executor require(
        boost::asio::execution::outstanding_work_t::tracked_t) const noexcept {
        return with(detail::exec_tracked, 0);
    }
    /// A copy that does not count as outstanding work.
    [[nodiscard]] executor require(
        boost::asio::execution::outstanding_work_t::untracked_t) const noexcept {
        return with(0, detail::exec_tracked);
    }

    /// True on one of the runtime's worker threads.
    [[nodiscard]] bool running_in_this_thread() const noexcept {
        return detail::on_worker_of(sched_);
    }

    /// The io_context shard of this executor (as query(execution::context)).
    [[nodiscard]] boost::asio::io_context& context() const noexcept { return bind(); }

   private:
    friend struct detail::executor_access;

    // Made by runtime::get_executor() and handle::get_executor() (through executor_access);
    // `flags` are detail::executor_flags. Counts as outstanding work while it has
    // outstanding_work.tracked.
    executor(detail::scheduler* s, boost::asio::io_context* shard, std::uint8_t flags = 0) noexcept
        : sched_(s),
          io_(shard),
          flags_(flags) {
        if (flags_ & detail::exec_tracked) detail::work_started(sched_);
    }

    boost::asio::io_context& bind() const noexcept {
        boost::asio::io_context* p = io_.load(std::memory_order_acquire);
        if (p) return *p;
        boost::asio::io_context* picked = &detail::next_shard(sched_);
        if (io_.compare_exchange_strong(p, picked, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
            return *picked;
        }
        return *p;  // another caller bound it first
    }
    executor with(std::uint8_t set, std::uint8_t clear) const noexcept {
        return executor(sched_, io_.load(std::memory_order_acquire),
                        static_cast<std::uint8_t>((flags_ | set) & ~clear));
    }
    void swap(executor& o) noexcept {
        std::swap(sched_, o.sched_);
        boost::asio::io_context* mine = io_.load(std::memory_order_relaxed);
        io_.store(o.io_.load(std::memory_order_relaxed), std::memory_order_relaxed);
        o.io_.store(mine, std::memory_order_relaxed);
        std::swap(flags_, o.flags_);
    }

    detail::scheduler* sched_;
    /// The shard, or null while floating. Several threads may query one executor object at
    /// once (a const call), so the first binding is a CAS: exactly one pick wins, and every
    /// caller returns the winner. Ordering: the shard is an io_context that outlives the
    /// executor; acquire/release only publish the pointer.
    mutable std::atomic<boost::asio::io_context*> io_;
    std::uint8_t flags_;
};

/// The current worker's io_context shard, for Asio I/O objects built in a task. An I/O object
/// stays bound to the shard it was built on, whichever worker later uses it. weft::no_runtime
/// off the workers.
boost::asio::io_context::executor_type current_io_executor();

}  // namespace weft
