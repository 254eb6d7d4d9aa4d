// join_set: the type-independent part.
//
// Each task of a set has a node. The node sits in `running` until the task's callable is
// destroyed (join_set_member's destructor, a few instructions before the task completes),
// which moves it to the back of `ended` and wakes the owner if it waits in join_next. So
// join_next takes tasks in the order they ended, in O(1), without polling every handle.
//
// Locking: core.mu guards both lists, each node's `at`, and the owner's waker. Members run
// on any worker; the owner is a single task or thread. A node is shared by the set and the
// task's callable (refs), because either may let go first: a task can outlive its set
// (destroyed or detached) and a set can join a task before its callable's memory is gone.
// The core is shared the same way (std::shared_ptr).
//
// Cancel-safety of join_next: a node leaves `ended` only when join_next returns it; an abort
// while waiting throws with the lists untouched, and a select branch takes a node only once
// it has won the select (detail/select_claim.hpp). try_join_next takes only a node whose task
// is already complete, so it never waits (not even through await_completion).
#include <weft/detail/park.hpp>
#include <weft/detail/select_claim.hpp>
#include <weft/task/detail/completion.hpp>
#include <weft/task/join_handle.hpp>
#include <weft/task/join_set.hpp>

#include <boost/intrusive/list.hpp>

#include <atomic>
#include <mutex>

namespace weft::detail {

struct join_set_node : boost::intrusive::list_base_hook<> {
    enum class place : unsigned char { outside, running, ended };
    std::atomic<int> refs{1};     // the set's; +1 while the task's callable exists
    task_header* task = nullptr;  // the handle's reference (owner only)
    place at = place::outside;    // guarded by the core's mutex
};

namespace {
using node_list =
    boost::intrusive::list<join_set_node, boost::intrusive::constant_time_size<false>>;

void release(join_set_node* n) noexcept {
    // Ordering: acq_rel so the last owner sees every write made through the other.
    if (n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete n;
}
}  // namespace

class join_set_core {
   public:
    std::mutex mu;
    node_list running;
    node_list ended;
    waker waiter;  // the owner, while it waits in join_next
};

void join_set_member_attached(join_set_node* node) noexcept {
    node->refs.fetch_add(1, std::memory_order_relaxed);
}

void join_set_member_ended(const std::shared_ptr<join_set_core>& core,
                           join_set_node* node) noexcept {
    {
        std::lock_guard lock(core->mu);
        if (node->at == join_set_node::place::running) {
            core->running.erase(core->running.iterator_to(*node));
            core->ended.push_back(*node);
            node->at = join_set_node::place::ended;
            core->waiter.wake_by_ref();
        }
    }
    release(node);
}

join_set_base::join_set_base()
    : core_(std::make_shared<join_set_core>()) {}

join_set_base::join_set_base(join_set_base&& o) noexcept
    : core_(std::move(o.core_)),
      size_(std::exchange(o.size_, 0)) {}

join_set_base& join_set_base::operator=(join_set_base&& o) noexcept {
    if (this != &o) {
        if (core_) {
            abort_all();
            detach_all();
        }
        core_ = std::move(o.core_);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

join_set_base::~join_set_base() {
    if (!core_) return;
    abort_all();
    detach_all();
}

join_set_node* join_set_base::new_node() {
    if (!core_) core_ = std::make_shared<join_set_core>();  // reused after a move
    return new join_set_node;
}

void join_set_base::drop_node(join_set_node* n) noexcept { release(n); }

abort_handle join_set_base::insert(join_set_node* n, task_header* t) {
    n->task = t;
    {
        std::lock_guard lock(core_->mu);
        core_->running.push_back(*n);
        n->at = join_set_node::place::running;
    }
    ++size_;
    try {
        submit(t, nullptr, {});
    } catch (...) {
        {
            std::lock_guard lock(core_->mu);
            // The task never ran, so its callable still exists: the node is still running.
            core_->running.erase(core_->running.iterator_to(*n));
            n->at = join_set_node::place::outside;
        }
        --size_;
        n->task = nullptr;
        t->release();  // destroys the task and its callable
        release(n);
        throw;
    }
    return abort_handle(t);
}

task_header* join_set_base::next(std::source_location where) {
    if (size_ == 0) return nullptr;
    join_set_core& c = *core_;
    join_set_node* n;
    // Before any lock: a select branch gives back what it held from its previous operation.
    const claim_record* claimer = current_claimer();
    {
        std::unique_lock lock(c.mu);
        if (!c.ended.empty()) {
            // Ready: still a cancellation point, and a task that keeps finding ended tasks
            // yields now and then (cooperative budget). Only the owner removes from `ended`.
            lock.unlock();
            consume_budget(where);
            lock.lock();
        } else {
            c.waiter = current_waker("weft::join_set::join_next");
            for (;;) {
                if (cancellation_requested()) {
                    c.waiter.reset();
                    lock.unlock();
                    throw_if_cancelled();  // throws: it asks what cancellation_requested() did
                    lock.lock();
                    c.waiter = current_waker("weft::join_set::join_next");
                }
                lock.unlock();
                park("join_set::join_next", where);
                lock.lock();
                if (!c.ended.empty()) break;
            }
            c.waiter.reset();
            // Cancelled as a task ended (a loser woken by its abort, not by the end): take
            // nothing.
            if (cancellation_requested()) {
                lock.unlock();
                throw_if_cancelled();
            }
        }
        while (!claim_select(claimer)) {
            // Another branch of this select holds the race: the node stays, and this waits
            // for the race to reopen (or throws when aborted). Only the owner removes from
            // `ended`, so the node is still there after the wait.
            lock.unlock();
            wait_reopened("join_set::join_next", where);
            lock.lock();
        }
        n = &c.ended.front();
        c.ended.pop_front();
        n->at = join_set_node::place::outside;
    }
    --size_;
    task_header* t = std::exchange(n->task, nullptr);
    release(n);
    await_completion(t);
    return t;
}

task_header* join_set_base::try_next() noexcept {
    if (size_ == 0) return nullptr;
    join_set_node* n = nullptr;
    {
        std::lock_guard lock(core_->mu);
        // A node reaches `ended` a few instructions before its task is marked complete
        // (see the file comment); such a task has not finished yet as far as the caller can
        // tell, so skip it rather than wait, and take the first one that has.
        for (join_set_node& e : core_->ended) {
            // Ordering: is_complete() acquires the state word the runtime released with the
            // outcome, so take_outcome reads a written outcome and value.
            if (e.task->is_complete()) {
                n = &e;
                break;
            }
        }
        // In a select branch, only once it holds the race: a loser leaves the task in the set.
        if (!n || !claim_for_try()) return nullptr;
        core_->ended.erase(core_->ended.iterator_to(*n));
        n->at = join_set_node::place::outside;
    }
    --size_;
    task_header* t = std::exchange(n->task, nullptr);
    release(n);
    return t;
}

void join_set_base::abort_all() noexcept {
    if (!core_) return;
    std::lock_guard lock(core_->mu);
    for (join_set_node& n : core_->running) abort_task(n.task);
}

void join_set_base::detach_all() noexcept {
    if (!core_) return;
    node_list taken;
    {
        std::lock_guard lock(core_->mu);
        taken.splice(taken.end(), core_->running);
        taken.splice(taken.end(), core_->ended);
        // Once outside, a member that ends no longer touches the node's hook.
        for (join_set_node& n : taken) n.at = join_set_node::place::outside;
    }
    size_ = 0;
    while (!taken.empty()) {
        join_set_node* n = &taken.front();
        taken.pop_front();
        detach_task(std::exchange(n->task, nullptr));
        release(n);
    }
}

}  // namespace weft::detail
