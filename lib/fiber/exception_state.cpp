// Access to libstdc++'s __cxa_eh_globals. Kept in its own translation unit without <cxxabi.h>,
// whose declaration of __cxa_get_globals uses an opaque struct type.
#include "exception_state.hpp"

extern "C" weft::detail::eh_globals_layout* __cxa_get_globals() noexcept;

namespace weft::detail {

void* thread_eh_globals() noexcept { return __cxa_get_globals(); }

}  // namespace weft::detail
