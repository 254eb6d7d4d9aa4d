// Access to libstdc++'s __cxa_eh_globals. Kept in its own translation unit without <cxxabi.h>,
// whose declaration of __cxa_get_globals uses an opaque struct type.
#include "exception_state.hpp"

namespace {
struct cxa_eh_globals {
    void* caught_exceptions;
    unsigned int uncaught_exceptions;
};
}  // namespace

extern "C" cxa_eh_globals* __cxa_get_globals() noexcept;

namespace weft::detail {

void* thread_eh_globals() noexcept { return __cxa_get_globals(); }

eh_state swap_eh_state(void* globals, eh_state next) noexcept {
    auto* g = static_cast<cxa_eh_globals*>(globals);
    eh_state prev{g->caught_exceptions, g->uncaught_exceptions};
    g->caught_exceptions = next.caught;
    g->uncaught_exceptions = next.uncaught;
    return prev;
}

}  // namespace weft::detail
