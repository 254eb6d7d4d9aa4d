// Umbrella header: everything in weft.
#pragma once

#include <weft/asio.hpp>
#include <weft/channel.hpp>
#include <weft/error.hpp>
#include <weft/fs.hpp>
#include <weft/metrics.hpp>
#include <weft/net.hpp>
#include <weft/runtime.hpp>
#include <weft/signal.hpp>
#include <weft/sync.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>
