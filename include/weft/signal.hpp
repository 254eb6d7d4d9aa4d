// Signals (Tokio's tokio::signal): signal::wait, signal::ctrl_c.
#pragma once

#include <weft/error.hpp>
#include <weft/signal/wait.hpp>
