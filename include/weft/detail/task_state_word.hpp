// task_state_word: the one atomic word that says where a task is in its life, and the only
// code that changes it. Not for users.
//
// Bits (one word, so a wake, an abort and the worker's switch-out agree on one order):
//   scheduled      in a run queue (or being pushed into one); exactly one queue entry exists
//   running        a worker owns the task: its fiber runs or is switching out, or it yielded
//                  and waits in a run queue (the queue entry owns it; wakes only mark it
//                  notified, so neither the yield nor the resumption needs a CAS), or a
//                  diagnostic borrowed the parked task to read its stack (try_borrow_parked)
//   notified       woken while running: the worker requeues it after the switch-out
//   complete       the outcome is written (release); nothing runs it again
//   cancelled      abort was requested (sticky)
//   started        the callable was invoked (a task aborted before starting never calls it)
//   join_interest  a join_handle still exists (else an exception is "unhandled")
//   join_waker     the header's join_waker_ holds the joiner's waker (written by the joiner
//                  before it sets the bit, taken by completion after it sees the bit)
//
// Invariants (each transition asserts the ones it relies on):
//   - scheduled and running are never both set, except for a yielded task, which keeps
//     `running` while its queue entry waits (running | scheduled never occurs: the yield path
//     does not set scheduled, so the entry is accounted for by `running`).
//   - complete is set once, by the task's completion, and then no transition but
//     drop_join_interest and the join-waker pair changes the word (wakes and aborts see it
//     and do nothing).
//   - started is set at most once, only together with running, and never once cancelled was
//     seen by the claimer.
// Ordering: every transition is a CAS or RMW with acq_rel, so each one sees everything the
// previous owner of the task published before its own transition (a wake that finds the task
// already queued writes the word too, unchanged: transition_to_notified says why): the outcome and
// result are written before `complete` (release) and read after it is seen (acquire); a saved fiber
// context is published by the switch-out's transition and read after the next claim.
#pragma once

#include <weft/detail/assert.hpp>

#include <atomic>
#include <cstdint>

namespace weft::detail {

/// The word over `Atomic` (std::atomic in tasks; the interleaving explorer's instrumented
/// atomic in test/scheduler/explore_test.cpp, which checks the wake protocol under x86 store
/// buffering).
template <template <class> class Atomic>
class basic_task_state_word {
   public:
    static constexpr std::uint32_t scheduled = 1U << 0;
    static constexpr std::uint32_t running = 1U << 1;
    static constexpr std::uint32_t notified = 1U << 2;
    static constexpr std::uint32_t complete = 1U << 3;
    static constexpr std::uint32_t cancelled = 1U << 4;
    static constexpr std::uint32_t started = 1U << 5;
    static constexpr std::uint32_t join_interest = 1U << 6;
    static constexpr std::uint32_t join_waker = 1U << 7;

    /// A value of the word, read once.
    class snapshot {
       public:
        constexpr explicit snapshot(std::uint32_t bits) noexcept
            : bits_(bits) {}
        [[nodiscard]] constexpr bool is_scheduled() const noexcept { return bits_ & scheduled; }
        [[nodiscard]] constexpr bool is_running() const noexcept { return bits_ & running; }
        [[nodiscard]] constexpr bool is_notified() const noexcept { return bits_ & notified; }
        [[nodiscard]] constexpr bool is_complete() const noexcept { return bits_ & complete; }
        [[nodiscard]] constexpr bool is_cancelled() const noexcept { return bits_ & cancelled; }
        [[nodiscard]] constexpr bool is_started() const noexcept { return bits_ & started; }
        [[nodiscard]] constexpr bool has_join_interest() const noexcept {
            return bits_ & join_interest;
        }
        [[nodiscard]] constexpr bool has_join_waker() const noexcept { return bits_ & join_waker; }
        /// Resumed before (it has run): the next run resumes its fiber instead of starting it.
        [[nodiscard]] constexpr bool has_run() const noexcept {
            return bits_ & (running | started);
        }

       private:
        std::uint32_t bits_;
    };

    /// A new task: queued for its first run (the spawn pushes it), a handle holds it.
    basic_task_state_word() noexcept = default;

    /// Ordering: acquire, pairs with the release half of every transition below.
    [[nodiscard]] snapshot load() const noexcept {
        return snapshot(word_.load(std::memory_order_acquire));
    }

    // ---- wakes and aborts (any thread) --------------------------------------------------

    enum class wake_action : unsigned char {
        none,      ///< complete or already queued: the wake is absorbed
        notified,  ///< running: the worker requeues it after the switch-out
        schedule,  ///< idle: the caller now owns the one queue entry and must push it
    };
    /// A wake: idle -> scheduled, running -> running | notified, otherwise nothing.
    wake_action transition_to_notified() noexcept {
        std::uint32_t s = word_.load(std::memory_order_acquire);
        for (;;) {
            if (s & complete) return wake_action::none;
            // safety: a wake that finds the task already queued changes nothing, yet it must
            // still write the word (the same value) rather than return after the load. The
            // waker published its news (a done flag, a value) with a plain store just before;
            // the task's next run claims the word with a CAS and then reads that news. Had the
            // waker only loaded, nothing would order its store before that read: on x86 the
            // store can still sit in the waker's store buffer while its load sees `scheduled`
            // and the claimer reads the old value, parks, and nobody wakes it (the lost wake of
            // a use_fiber operation whose completion came right after its cancel emitter's
            // wake). As an RMW it drains the buffer, and the claimer's CAS reads from it:
            // Ordering: release here pairs with the acquire of the claim that follows in the
            // word's modification order (transition_to_running_again), so the task's next run
            // sees everything the waker wrote before the wake.
            const bool queued = (s & scheduled) != 0;
            std::uint32_t next = queued ? s : (s & running) ? (s | notified) : (s | scheduled);
            if (word_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return queued          ? wake_action::none
                       : (s & running) ? wake_action::notified
                                       : wake_action::schedule;
            }
        }
    }

    /// An abort request. True when it is the first and the task has not completed: the
    /// caller then wakes the task so that it sees the request.
    bool set_cancelled() noexcept {
        std::uint32_t prev = word_.fetch_or(cancelled, std::memory_order_acq_rel);
        return !(prev & (complete | cancelled));
    }

    // ---- the worker (or blocking thread) that took the task from a queue ---------------

    /// First run from a queue entry: scheduled -> running | started, or running alone when
    /// an abort came first (the caller then drops the callable without invoking it). Returns
    /// the word before (is_cancelled() says which).
    snapshot transition_to_running_first() noexcept {
        std::uint32_t s = word_.load(std::memory_order_acquire);
        for (;;) {
            WEFT_ASSERT(s & scheduled, "a task taken from a run queue is marked scheduled");
            WEFT_ASSERT(!(s & (running | started | complete)), "a first run finds a fresh task");
            std::uint32_t next =
                (s & cancelled) ? (s & ~scheduled) | running : (s & ~scheduled) | running | started;
            if (word_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return snapshot(s);
            }
        }
    }

    /// First run, only if not aborted: scheduled -> running | started. False (word unchanged)
    /// when an abort came first, so the caller can hand the task on untouched.
    bool try_transition_to_started() noexcept {
        std::uint32_t s = word_.load(std::memory_order_acquire);
        for (;;) {
            if (s & cancelled) return false;
            WEFT_ASSERT(s & scheduled, "a task taken from a run queue is marked scheduled");
            WEFT_ASSERT(!(s & (running | started | complete)), "a first run finds a fresh task");
            if (word_.compare_exchange_weak(s, (s & ~scheduled) | running | started,
                                            std::memory_order_acq_rel, std::memory_order_acquire)) {
                return true;
            }
        }
    }

    /// A later run from a queue entry (`s` = load(), has_run()). A yielded task kept
    /// `running`: a wake that came meanwhile (notified) is served by this resumption, as the
    /// task re-reads whatever the waker published. A parked-then-woken task goes
    /// scheduled -> running.
    void transition_to_running_again(snapshot s) noexcept {
        if (s.is_running()) {
            if (s.is_notified()) word_.fetch_and(~notified, std::memory_order_acq_rel);
            return;
        }
        std::uint32_t v = word_.load(std::memory_order_acquire);
        for (;;) {
            WEFT_ASSERT(v & scheduled, "a resumed task comes from its one queue entry");
            WEFT_ASSERT(!(v & complete), "a complete task is never queued");
            if (word_.compare_exchange_weak(v, (v & ~scheduled) | running,
                                            std::memory_order_acq_rel, std::memory_order_acquire)) {
                return;
            }
        }
    }

    /// The switch-out of a task that parks: running -> idle, or, when a wake came while it
    /// ran (notified), running | notified -> scheduled. True in the second case: the caller
    /// owns the queue entry and must push it. Ordering: the release half publishes the saved
    /// fiber context to whoever claims the task next.
    bool transition_to_idle() noexcept {
        std::uint32_t v = word_.load(std::memory_order_acquire);
        for (;;) {
            WEFT_ASSERT(v & running, "only a running task switches out");
            std::uint32_t next =
                (v & notified) ? ((v & ~(running | notified)) | scheduled) : (v & ~running);
            if (word_.compare_exchange_weak(v, next, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return (v & notified) != 0;
            }
        }
    }

    // ---- a diagnostic reading a parked task's stack (runtime::dump with backtraces) ------

    /// Borrows a parked task as a worker would own it: idle (started, and neither scheduled,
    /// running nor complete) -> running. False, word unchanged, in any other state. While
    /// borrowed the task is `running`, so a wake or an abort only marks it notified and no
    /// worker can resume its fiber; the borrower gives it back with transition_to_idle() and,
    /// when that returns true (woken meanwhile), owns the queue entry and must schedule it.
    /// Ordering: acquire pairs with the switch-out's release in transition_to_idle, so the
    /// saved fiber context is visible to the borrower.
    bool try_borrow_parked() noexcept {
        std::uint32_t s = word_.load(std::memory_order_acquire);
        for (;;) {
            if (!(s & started) || (s & (scheduled | running | complete))) return false;
            if (word_.compare_exchange_weak(s, s | running, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return true;
            }
        }
    }

    // ---- completion -------------------------------------------------------------------

    /// The task's outcome is written: sets complete and clears running, scheduled and
    /// notified. `drop_unwanted_result()` runs before `complete` is published, once, when no
    /// join_handle wants the result at the moment of the CAS that succeeds (the handle that
    /// lets go after it sees `complete` drops the result itself: exactly one side does).
    /// Returns the word before.
    template <class DropResult>
    snapshot transition_to_complete(DropResult&& drop_unwanted_result) noexcept {
        std::uint32_t s = word_.load(std::memory_order_acquire);
        bool dropped = false;
        for (;;) {
            WEFT_ASSERT(!(s & complete), "a task completes once");
            if (!(s & join_interest) && !dropped) {
                drop_unwanted_result();
                dropped = true;
            }
            if (word_.compare_exchange_weak(s, (s | complete) & ~(running | scheduled | notified),
                                            std::memory_order_acq_rel, std::memory_order_acquire)) {
                return snapshot(s);
            }
        }
    }

    /// A task refused at spawn (the runtime is shutting down): complete without running,
    /// its handle still interested. Only before anyone else can see the task.
    void set_complete_unstarted() noexcept {
        WEFT_ASSERT(!(word_.load(std::memory_order_relaxed) & (running | started | complete)),
                    "a refused task never ran");
        word_.store(complete | join_interest, std::memory_order_release);
    }

    // ---- the join side --------------------------------------------------------------------

    /// The joiner has written the header's join_waker_: publishes it. False when the task
    /// completed first (the joiner must then drop the waker itself and not wait).
    bool set_join_waker() noexcept {
        std::uint32_t s = word_.load(std::memory_order_acquire);
        for (;;) {
            if (s & complete) return false;
            WEFT_ASSERT(!(s & join_waker), "one joiner at a time");
            // Ordering: release publishes join_waker_ to the completion, which reads it after
            // seeing the bit (acquire in transition_to_complete).
            if (word_.compare_exchange_weak(s, s | join_waker, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return true;
            }
        }
    }

    /// The joiner takes its waker back (it stops waiting). True when it did: join_waker_ is
    /// the joiner's to reset. False when the task completed first (the completion owns the
    /// waker) or no waker was set.
    bool unset_join_waker() noexcept {
        std::uint32_t s = word_.load(std::memory_order_acquire);
        for (;;) {
            if ((s & complete) || !(s & join_waker)) return false;
            if (word_.compare_exchange_weak(s, s & ~join_waker, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return true;
            }
        }
    }

    /// The handle lets go of the result (joined, detached or destroyed). Returns the word
    /// before: is_complete() means the result, if not taken, is the caller's to drop.
    snapshot drop_join_interest() noexcept {
        return snapshot(word_.fetch_and(~join_interest, std::memory_order_acq_rel));
    }

   private:
    Atomic<std::uint32_t> word_{scheduled | join_interest};
};

/// The state word every task carries.
using task_state_word = basic_task_state_word<std::atomic>;

}  // namespace weft::detail
