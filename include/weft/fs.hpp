// Umbrella for the fs area (see ../shared API.md). Filled in by the area's headers.
#pragma once

#include <weft/error.hpp>
