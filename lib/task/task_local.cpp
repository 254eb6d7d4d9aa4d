// task_local storage. A task's bindings are an immutable set (locals_set) behind
// task_header::locals_; binding a value builds a new set and swaps the pointer, and the old
// set comes back when the binding ends. Sharing is therefore free and race-free:
//   - join/select branches get the parent's pointer (the core copies locals_ for
//     branch_of), and a binding made inside a branch is seen by that branch only;
//   - spawn calls inherit() (registered below) to build the child's own set from the
//     inherited entries, copying each value;
//   - offload lends the caller's set to a blocking thread while the caller waits.
// Values themselves are shared by reference between those who share a set (get() returns
// T&), never between tasks that run in parallel: a spawned child gets copies.
// Off tasks (plain threads, blocking-pool threads, handlers on a worker) the set lives in a
// thread_local; those never migrate.
#include <weft/detail/park.hpp>
#include <weft/detail/task_header.hpp>
#include <weft/detail/task_impl.hpp>
#include <weft/task/task_local.hpp>

#include <utility>
#include <vector>

namespace weft::detail {
namespace {

struct local_entry {
    const void* key;
    std::shared_ptr<void> value;
    local_copy_fn copy;  // null: not inherited
};

struct locals_set {
    std::vector<local_entry> entries;  // a handful: a linear scan beats hashing
};

std::shared_ptr<void>& thread_slot() noexcept {
    thread_local std::shared_ptr<void> slot;
    return slot;
}

/// Never keep the reference across a suspension: the task may resume on another thread
/// (it points into the task header, which is stable, but the thread slot would not be).
std::shared_ptr<void>& current_slot() noexcept {
    if (task_header* t = current_task()) return t->locals();
    return thread_slot();
}

std::shared_ptr<void> inherit(const std::shared_ptr<void>& parent) {
    const auto* from = static_cast<const locals_set*>(parent.get());
    auto child = std::make_shared<locals_set>();
    for (const local_entry& e : from->entries) {
        if (e.copy) child->entries.push_back({e.key, e.copy(e.value.get()), e.copy});
    }
    if (child->entries.empty()) return nullptr;
    return child;
}

// Registered when the library loads; spawn calls it only for parents that have bindings.
[[maybe_unused]] const bool inherit_registered = (set_locals_inherit(&inherit), true);

}  // namespace

void* find_local(const void* key) noexcept {
    const auto* set = static_cast<const locals_set*>(current_slot().get());
    if (!set) return nullptr;
    for (const local_entry& e : set->entries) {
        if (e.key == key) return e.value.get();
    }
    return nullptr;
}

local_binding::local_binding(const void* key, std::shared_ptr<void> value, local_copy_fn copy) {
    std::shared_ptr<void>& slot = current_slot();
    auto next = std::make_shared<locals_set>();
    if (const auto* cur = static_cast<const locals_set*>(slot.get())) {
        next->entries.reserve(cur->entries.size() + 1);
        for (const local_entry& e : cur->entries) {
            if (e.key != key) next->entries.push_back(e);
        }
    }
    next->entries.push_back({key, std::move(value), copy});
    previous_ = std::exchange(slot, std::move(next));
}

local_binding::~local_binding() { current_slot() = std::move(previous_); }

std::shared_ptr<void> current_locals() { return current_slot(); }

locals_adoption::locals_adoption(std::shared_ptr<void> bindings)
    : previous_(std::exchange(thread_slot(), std::move(bindings))) {}

locals_adoption::~locals_adoption() { thread_slot() = std::move(previous_); }

}  // namespace weft::detail
