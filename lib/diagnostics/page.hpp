// The HTML page weft::console serves at "/" (lib/diagnostics/page.cpp).
#pragma once

#include <string_view>

namespace weft::diagnostics {

/// A self-contained HTML document (inline CSS and script, no external resource) that fetches
/// /metrics and /tasks.json every second and renders them as tables.
std::string_view console_page() noexcept;

}  // namespace weft::diagnostics
