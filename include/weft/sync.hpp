// Umbrella for the sync area: fair, suspending synchronisation primitives (rules in
// docs/conventions.md).
#pragma once

#include <weft/error.hpp>
#include <weft/sync/barrier.hpp>
#include <weft/sync/cancellation_token.hpp>
#include <weft/sync/condition_variable.hpp>
#include <weft/sync/mutex.hpp>
#include <weft/sync/notify.hpp>
#include <weft/sync/semaphore.hpp>
#include <weft/sync/shared_mutex.hpp>
