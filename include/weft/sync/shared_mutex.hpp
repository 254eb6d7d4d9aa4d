// weft::shared_mutex: a fair reader-writer lock for tasks and threads (Tokio's sync::RwLock,
// without the data).
#pragma once

#include <weft/detail/park.hpp>
#include <weft/detail/wait_list.hpp>
#include <weft/error.hpp>
#include <weft/sync/batch_semaphore.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <source_location>
#include <tuple>

namespace weft {

/// A reader-writer lock whose waits suspend only the calling task (on a plain thread they
/// block the thread). SharedLockable: works with std::unique_lock, std::shared_lock and
/// std::scoped_lock.
///
/// Fair (Tokio's RwLock): one FIFO queue for readers and writers. A writer waits for the
/// readers before it to leave; readers arriving after a waiting writer queue behind it, so
/// writers are never starved; readers next to each other in the queue share the lock.
/// Built on the same semaphore as weft::semaphore: a reader takes 1 of max_readers permits,
/// a writer takes them all.
///
/// ```cpp
/// weft::shared_mutex m;
/// { std::shared_lock read(m); use(config); }   // many readers at once
/// { std::lock_guard write(m); config = next; }  // one writer, after the readers before it
/// ```
class shared_mutex {
   public:
    /// Readers that can hold the lock at once; the next one waits.
    static constexpr std::size_t max_readers = (std::size_t{1} << 29) - 1;

    shared_mutex() noexcept
        : sem_(max_readers) {}
    shared_mutex(const shared_mutex&) = delete;
    shared_mutex& operator=(const shared_mutex&) = delete;

    /// Locks exclusively, suspending while readers or a writer hold it or wait before us.
    /// A cooperative scheduling point. std::logic_error if it would have to wait on a worker
    /// thread outside a task.
    /// **Cancellation**: cancel-safe. An aborted waiter throws task_cancelled holding
    /// nothing; readers that left meanwhile are not lost (their share goes to the next
    /// waiters), and a lock granted to it meanwhile is passed on. A select branch takes the
    /// lock only once it has won the select; a lock granted as a timeout's deadline passes is
    /// kept (the next cancellation point throws).
    void lock(std::source_location where = std::source_location::current()) {
        detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
        detail::consume_budget(where);
        if (!sem_.try_acquire(max_readers) ||
            !sem_.claim_taken(max_readers, "shared_mutex::lock", where)) {
            sem_.acquire_slow(max_readers, "shared_mutex::lock", where);
        }
    }
    /// Locks exclusively if nobody holds the lock or waits for it. Never suspends. In a select
    /// branch that lost the race, locks nothing (false).
    [[nodiscard]] bool try_lock() noexcept { return sem_.try_acquire_claimed(max_readers); }
    /// Releases the exclusive lock, handing it to the waiters at the front of the queue (FIFO: a
    /// writer, or the readers queued before the next writer).
    void unlock() noexcept { sem_.release(max_readers); }

    /// Locks shared, suspending while a writer holds it or anyone waits before us.
    /// A cooperative scheduling point.
    /// **Cancellation**: cancel-safe, as lock().
    void lock_shared(std::source_location where = std::source_location::current()) {
        detail::begin_consuming();  // before the budget's yield: see select_claim.hpp
        detail::consume_budget(where);
        if (!sem_.try_acquire(1) || !sem_.claim_taken(1, "shared_mutex::lock_shared", where)) {
            sem_.acquire_slow(1, "shared_mutex::lock_shared", where);
        }
    }
    /// Locks shared if no writer holds the lock and nobody waits. Never suspends. In a select
    /// branch that lost the race, locks nothing (false).
    [[nodiscard]] bool try_lock_shared() noexcept { return sem_.try_acquire_claimed(1); }
    /// Releases one shared lock.
    void unlock_shared() noexcept { sem_.release(1); }

    /// Asio form of lock(): `void(error_code, std::unique_lock<weft::shared_mutex>)`.
    /// **Cancellation**: terminal, partial and total cancellation through the handler's slot
    /// complete it with asio::error::operation_aborted and an empty lock; nothing is taken.
    template <class CompletionToken>
    auto async_lock(CompletionToken&& token) {
        return detail::async_lock_permits<std::unique_lock<shared_mutex>>(
            sem_, max_readers, *this, std::forward<CompletionToken>(token));
    }

    /// Asio form of lock_shared(): `void(error_code, std::shared_lock<weft::shared_mutex>)`.
    /// **Cancellation**: as async_lock.
    template <class CompletionToken>
    auto async_lock_shared(CompletionToken&& token) {
        return detail::async_lock_permits<std::shared_lock<shared_mutex>>(
            sem_, 1, *this, std::forward<CompletionToken>(token));
    }

   private:
    detail::batch_semaphore sem_;
};

}  // namespace weft
