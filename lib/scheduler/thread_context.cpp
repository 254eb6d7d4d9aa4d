#include "thread_context.hpp"

namespace weft::detail {
namespace {
// initial-exec: a direct %fs-relative access instead of a __tls_get_addr call per use.
[[gnu::tls_model("initial-exec")]] thread_local thread_context tls_context;
}  // namespace

[[gnu::noinline, gnu::noipa]] thread_context& this_thread_context() noexcept {
    // Ordering: the asm barrier stops the compiler from treating the TLS address as a
    // constant across the caller's switch points.
    thread_context* p = &tls_context;
    asm volatile("" : "+r"(p));
    return *p;
}

thread_context_scope::thread_context_scope(scheduler* s, worker* w) noexcept
    : saved_(this_thread_context()) {
    thread_context& c = this_thread_context();
    c.sched = s;
    c.w = w;
}

thread_context_scope::~thread_context_scope() { this_thread_context() = saved_; }

}  // namespace weft::detail
