// Time: sleep_for, sleep_until (Tokio's tokio::time).
#pragma once

#include <weft/time/clock.hpp>
#include <weft/time/sleep.hpp>
