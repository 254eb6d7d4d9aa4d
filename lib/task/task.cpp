// Task identity, join, abort, detach and submission.
#include "task_ops.hpp"

#include "../scheduler/scheduler.hpp"
#include "../scheduler/thread_context.hpp"

#include <weft/detail/assert.hpp>
#include <weft/detail/join_op.hpp>
#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/error.hpp>
#include <weft/task/join_handle.hpp>
#include <weft/task/task_builder.hpp>

#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>

namespace weft::detail {
namespace {

// Ids are handed out in blocks per thread so spawning threads do not share a cache line.
std::atomic<task_id> next_id_block{1};

task_id new_task_id() noexcept {
    [[gnu::tls_model("initial-exec")]] thread_local task_id next = 0;
    [[gnu::tls_model("initial-exec")]] thread_local task_id limit = 0;
    if (next == limit) {
        next = next_id_block.fetch_add(task_id_block, std::memory_order_relaxed);
        limit = next + task_id_block;
    }
    return next++;
}

std::string task_label(const task_header* t) {
    return t->name().empty() ? fmt::format("task {}", t->id())
                             : fmt::format("task {} '{}'", t->id(), t->name());
}

std::string exception_text(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "an exception not derived from std::exception";
    }
}

}  // namespace

task_header::task_header(std::source_location loc) noexcept
    : id_(new_task_id()),
      spawned_at_(loc) {}

task_header::~task_header() = default;

void invariant_failed(const char* expr, const char* msg, const char* file, int line) noexcept {
    std::fprintf(stderr, "weft: invariant broken: %s (%s) at %s:%d\n", msg, expr, file, line);
    std::fflush(stderr);
    std::abort();
}

void validate_stack_size(std::size_t bytes, const char* option) {
    constexpr std::size_t min_stack = 16 * 1024;
    if (bytes < min_stack) {
        throw std::invalid_argument(fmt::format(
            "weft::{}: a fiber stack needs at least {} bytes (got {})", option, min_stack, bytes));
    }
}

void submit(task_header* t, scheduler* rt, spawn_options&& opts) {
    if (!rt) {
        rt = this_thread_context().sched;
        if (!rt) {
            throw no_runtime(
                "weft::spawn: not inside a weft runtime. Call it from a task or a worker "
                "thread, or spawn through a runtime or weft::handle (runtime::spawn, "
                "runtime::block_on, handle::spawn)");
        }
    }
    rt->submit(t, std::move(opts));
}

void abort_task(task_header* t) noexcept {
    if (t->state().set_cancelled()) wake_task(t);
}

namespace {

void join_wait_impl(task_header* t, std::source_location where, bool claiming) {
    task_header* self = current_task();
    if (self == t) {
        throw std::logic_error(
            fmt::format("weft::join_handle::join: {} cannot join itself", task_label(t)));
    }
    // A cancelled joiner throws even when the task already finished: the result stays in the
    // handle for a later join. A select branch takes the result only once it has won the
    // select (a loser's handle keeps it).
    throw_if_cancelled();
    // The start of a consuming op: a select branch gives back what it held (a loop branch),
    // then claims when the result is there; refused, it waits for the race to reopen (the
    // result stays in the handle meanwhile). Unclaimed (a library helper's job), neither.
    const claim_record* claimer = claiming ? current_claimer() : nullptr;
    auto claim = [&] {
        while (!claim_select(claimer)) wait_reopened("join", where);
    };
    // Ended already, or between that look and the registration of the waker (refused): the
    // result is there, and either way the join claims before it takes it. The refused case
    // once returned without the claim, and a select branch took the result after a sibling
    // had won: the aborted loser then destroyed it (select_conservation_test, "select join
    // vs receive").
    if (t->is_complete() || !t->publish_join_waker(current_waker("join_handle::join"))) {
        claim();
        return;
    }
    for (;;) {
        park("join", where);
        // Completed: the result is returned even past a deadline (the caller's next
        // cancellation point throws); an aborted joiner leaves it in the handle.
        if (t->is_complete() && !abort_requested()) {
            claim();
            return;
        }
        if (cancellation_requested()) {
            // Cancelled before it resumes (docs/conventions.md): the result, if the task finished
            // meanwhile, stays for a later join. complete() owns the join waker once `complete`
            // is set.
            t->withdraw_join_waker();
            throw_if_cancelled();
        }
    }
}

}  // namespace

void join_wait(task_header* t, std::source_location where) {
    join_wait_impl(t, where, /*claiming=*/true);
}

void join_wait_unclaimed(task_header* t, std::source_location where) {
    join_wait_impl(t, where, /*claiming=*/false);
}

bool register_join_waker(task_header* t, waker w) {
    if (t->is_complete()) return false;
    return t->publish_join_waker(std::move(w));  // false: completed meanwhile
}

bool unregister_join_waker(task_header* t) { return t->withdraw_join_waker(); }

void take_outcome(task_header* t) {
    t->state().drop_join_interest();
    switch (t->final_outcome()) {
        case outcome::value:
            return;
        case outcome::cancelled:
            throw join_error(join_error::kind::cancelled, t->id(), nullptr,
                             fmt::format("weft: {} was cancelled", task_label(t)));
        case outcome::exception:
            throw join_error(
                join_error::kind::exception, t->id(), t->exception(),
                fmt::format("weft: {} failed: {}", task_label(t), exception_text(t->exception())));
        case outcome::pending:
            break;
    }
    WEFT_INVARIANT(false, "a joined task has an outcome");
}

void detach_task(task_header* t) noexcept {
    const bool complete = t->state().drop_join_interest().is_complete();
    // Finished before the handle let go: the result is the handle's to drop, here, in the
    // context that drops the handle (scheduler::complete drops it when the handle went
    // first). Not left to the last release, which may run on some other task's fiber.
    if (complete) t->drop_result();
    if (complete && t->final_outcome() == outcome::exception) {
        if (scheduler::is_live(t->sched())) {
            t->sched()->report_unhandled(t);
        } else {
            std::fprintf(stderr, "weft: %s ended with an exception nobody joined: %s\n",
                         task_label(t).c_str(), exception_text(t->exception()).c_str());
        }
    }
    t->release();
}

void block_on_task(scheduler* rt, task_header* t) { rt->block_on(t); }

void block_on_rethrow(scheduler* rt, task_header* t) {
    t->state().drop_join_interest();
    switch (t->final_outcome()) {
        case outcome::value:
            return;
        case outcome::exception:
            std::rethrow_exception(t->exception());
        case outcome::cancelled:
        case outcome::pending:
            break;
    }
    if (std::exception_ptr e = rt->shutdown_exception()) std::rethrow_exception(e);
    throw join_error(
        join_error::kind::cancelled, t->id(), nullptr,
        fmt::format("weft: block_on's {} was cancelled (the runtime shut down)", task_label(t)));
}

}  // namespace weft::detail
