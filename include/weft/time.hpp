// Time: sleep_for, sleep_until (Tokio's tokio::time).
#pragma once

#include <weft/time/clock.hpp>
#include <weft/time/interval.hpp>
#include <weft/time/sleep.hpp>
#include <weft/time/timeout.hpp>
