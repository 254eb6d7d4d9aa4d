// Umbrella for the channel area (see ../shared API.md). Filled in by the area's headers.
#pragma once

#include <weft/error.hpp>
