// The runtime: builder, runtime, handle (Tokio's tokio::runtime).
#pragma once

#include <weft/error.hpp>
#include <weft/metrics.hpp>
#include <weft/runtime/builder.hpp>
#include <weft/runtime/handle.hpp>
#include <weft/runtime/runtime.hpp>
