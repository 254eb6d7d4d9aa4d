// Per-thread free lists for task objects, by 64-byte size class up to 1 KiB. A task is
// usually freed on a worker, often the one that allocated it, so a thread-local list without
// locks serves most spawns; each list keeps at most `max_cached` blocks, the rest go back to
// malloc. Under the sanitizers every block goes straight to malloc, so use-after-free and leak
// reports stay exact.
#include <weft/detail/task_header.hpp>

#include <array>
#include <cstddef>
#include <new>

namespace weft::detail {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)

void* allocate_task(std::size_t bytes) { return ::operator new(bytes); }
void deallocate_task(void* p, std::size_t bytes) noexcept { ::operator delete(p, bytes); }

#else

namespace {
constexpr std::size_t granule = 64;
constexpr std::size_t classes = 16;  // up to 1 KiB
constexpr std::size_t max_cached = 4096;

struct free_block {
    free_block* next;
};

struct free_lists {
    std::array<free_block*, classes> head{};
    std::array<std::size_t, classes> count{};
    ~free_lists() {
        for (std::size_t c = 0; c < classes; ++c) {
            while (free_block* b = head[c]) {
                head[c] = b->next;
                ::operator delete(b, (c + 1) * granule);
            }
        }
    }
};

[[gnu::tls_model("initial-exec")]] thread_local free_lists lists;

std::size_t class_of(std::size_t bytes) noexcept { return (bytes + granule - 1) / granule - 1; }
}  // namespace

void* allocate_task(std::size_t bytes) {
    std::size_t c = class_of(bytes);
    if (c >= classes) return ::operator new(bytes);
    if (free_block* b = lists.head[c]) {
        lists.head[c] = b->next;
        --lists.count[c];
        return b;
    }
    return ::operator new((c + 1) * granule);
}

void deallocate_task(void* p, std::size_t bytes) noexcept {
    std::size_t c = class_of(bytes);
    if (c >= classes) {
        ::operator delete(p, bytes);
        return;
    }
    if (lists.count[c] >= max_cached) {
        ::operator delete(p, (c + 1) * granule);
        return;
    }
    auto* b = static_cast<free_block*>(p);
    b->next = lists.head[c];
    lists.head[c] = b;
    ++lists.count[c];
}

#endif

}  // namespace weft::detail
