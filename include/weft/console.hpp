// Diagnostics (Tokio's console, Go's SIGQUIT dump): weft::console, an HTTP endpoint serving
// the runtime's metrics (Prometheus text) and its task dump; weft::dump_on_signal; and the
// text formats both use.
#pragma once

#include <weft/diagnostics/console.hpp>
#include <weft/diagnostics/dump_on_signal.hpp>
#include <weft/diagnostics/exposition.hpp>
