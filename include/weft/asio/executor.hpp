// weft::executor: a standard Asio executor that runs function objects on a runtime's workers,
// so asio::post/dispatch/defer, strands and co_spawn share the workers with fibers.
#pragma once

#include <weft/detail/task_header.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {

void report_handler_exception(std::exception_ptr e) noexcept;

/// A function object queued like a task but run inline on a worker's own stack (no fiber):
/// the work of an Asio handler. Not a task: current_task() is null while it runs.
template <class F>
class handler_task final : public task_header {
   public:
    template <class G>
    explicit handler_task(G&& g) : task_header(std::source_location::current()), f_(std::forward<G>(g)) {
        inline_ = true;
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
void work_started(scheduler* sched) noexcept;
void work_finished(scheduler* sched) noexcept;

}  // namespace detail

/// Asio executor of a weft runtime (runtime::get_executor(), handle::get_executor()).
/// Properties: blocking.possibly (the default, as for io_context: execute runs the function
/// inline when already on one of the runtime's workers outside a task; so asio::dispatch
/// does) / blocking.never (always queued; what asio::post and defer require), relationship.fork / continuation (continuation
/// runs next on the current worker, through the LIFO slot), outstanding_work.untracked /
/// tracked. query(execution::context) is the io_context shard it was obtained on (shard 0 off
/// the workers). Not serialising: wrap it in asio::make_strand for that. Must not outlive
/// its runtime (like an io_context's executor).
class executor {
   public:
    executor(detail::scheduler* s, boost::asio::io_context* shard, std::uint8_t flags = 0) noexcept
        : sched_(s), io_(shard), flags_(flags) {
        if (flags_ & detail::exec_tracked) detail::work_started(sched_);
    }
    executor(const executor& o) noexcept : executor(o.sched_, o.io_, o.flags_) {}
    executor(executor&& o) noexcept : sched_(o.sched_), io_(o.io_), flags_(o.flags_) {
        o.flags_ &= static_cast<std::uint8_t>(~detail::exec_tracked);
    }
    executor& operator=(const executor& o) noexcept {
        executor tmp(o);
        swap(tmp);
        return *this;
    }
    executor& operator=(executor&& o) noexcept {
        executor tmp(std::move(o));
        swap(tmp);
        return *this;
    }
    ~executor() {
        if (flags_ & detail::exec_tracked) detail::work_finished(sched_);
    }

    template <class F>
    void execute(F&& f) const {
        using fn = std::decay_t<F>;
        if (!(flags_ & detail::exec_blocking_never) && detail::on_worker_of(sched_)) {
            fn local(std::forward<F>(f));
            std::move(local)();
            return;
        }
        detail::submit_handler(sched_, new detail::handler_task<fn>(std::forward<F>(f)), flags_);
    }

    bool operator==(const executor& o) const noexcept {
        return sched_ == o.sched_ && io_ == o.io_ && flags_ == o.flags_;
    }
    bool operator!=(const executor& o) const noexcept { return !(*this == o); }

    [[nodiscard]] boost::asio::io_context& query(boost::asio::execution::context_t) const noexcept {
        return *io_;
    }
    [[nodiscard]] boost::asio::execution::blocking_t query(boost::asio::execution::blocking_t) const noexcept {
        if (flags_ & detail::exec_blocking_never) return boost::asio::execution::blocking.never;
        return boost::asio::execution::blocking.possibly;
    }
    [[nodiscard]] boost::asio::execution::relationship_t query(
        boost::asio::execution::relationship_t) const noexcept {
        if (flags_ & detail::exec_continuation) return boost::asio::execution::relationship.continuation;
        return boost::asio::execution::relationship.fork;
    }
    [[nodiscard]] boost::asio::execution::outstanding_work_t query(
        boost::asio::execution::outstanding_work_t) const noexcept {
        if (flags_ & detail::exec_tracked) return boost::asio::execution::outstanding_work.tracked;
        return boost::asio::execution::outstanding_work.untracked;
    }

    [[nodiscard]] executor require(boost::asio::execution::blocking_t::never_t) const noexcept {
        return with(detail::exec_blocking_never, 0);
    }
    [[nodiscard]] executor require(boost::asio::execution::blocking_t::possibly_t) const noexcept {
        return with(0, detail::exec_blocking_never);
    }
    [[nodiscard]] executor require(boost::asio::execution::relationship_t::fork_t) const noexcept {
        return with(0, detail::exec_continuation);
    }
    [[nodiscard]] executor require(boost::asio::execution::relationship_t::continuation_t) const noexcept {
        return with(detail::exec_continuation, 0);
    }
    [[nodiscard]] executor require(boost::asio::execution::outstanding_work_t::tracked_t) const noexcept {
        return with(detail::exec_tracked, 0);
    }
    [[nodiscard]] executor require(boost::asio::execution::outstanding_work_t::untracked_t) const noexcept {
        return with(0, detail::exec_tracked);
    }

    /// True on one of the runtime's worker threads.
    [[nodiscard]] bool running_in_this_thread() const noexcept { return detail::on_worker_of(sched_); }

    /// The io_context shard this executor was obtained on.
    [[nodiscard]] boost::asio::io_context& context() const noexcept { return *io_; }

   private:
    executor with(std::uint8_t set, std::uint8_t clear) const noexcept {
        return executor(sched_, io_, static_cast<std::uint8_t>((flags_ | set) & ~clear));
    }
    void swap(executor& o) noexcept {
        std::swap(sched_, o.sched_);
        std::swap(io_, o.io_);
        std::swap(flags_, o.flags_);
    }

    detail::scheduler* sched_;
    boost::asio::io_context* io_;
    std::uint8_t flags_;
};

/// The current worker's io_context shard, for Asio I/O objects built in a task. An I/O object
/// stays bound to the shard it was built on, whichever worker later uses it. weft::no_runtime
/// off the workers.
boost::asio::io_context::executor_type current_io_executor();

}  // namespace weft
