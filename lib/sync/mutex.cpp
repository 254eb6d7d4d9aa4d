// mutex: the contended path of lock(). See docs/notes/sync.md ("Mutex speed").
//
// With FIFO hand-off, a queue that has formed sustains itself: each owner hands the lock to a
// parked waiter and, re-locking at once, queues behind it, so every lock costs a task switch
// (a convoy). So a contended lock() first spins briefly while the holder is running and
// nobody waits (this mostly keeps a queue from forming), and if the lock is held by a waiter
// it was handed to (a queue is draining), waits on standby, not in the queue, until the
// queue has drained, then retries once before it queues. Neither step takes the lock past a
// queued waiter: both use the lock-free path, which fails while anyone is queued.
#include <weft/sync/mutex.hpp>

namespace weft {

void mutex::lock_contended(std::source_location where) {
    if (sem_.spin_acquire_one() || (sem_.wait_standby("mutex::lock", where) &&
                                    (sem_.try_acquire_one() || sem_.spin_acquire_one()))) {
        // Taken lock-free: a select branch claims; refused, it queues after the reopen.
        if (sem_.claim_taken(1, "mutex::lock", where)) return;
    }
    sem_.acquire_slow(1, "mutex::lock", where);  // claims when granted
}

}  // namespace weft
