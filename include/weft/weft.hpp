// Umbrella header: everything in weft.
#pragma once

#include <weft/asio.hpp>
#include <weft/channel.hpp>
#include <weft/console.hpp>
#include <weft/error.hpp>
#include <weft/fs.hpp>
#include <weft/metrics.hpp>
#include <weft/net.hpp>
#include <weft/runtime.hpp>
#include <weft/signal.hpp>
#include <weft/sync.hpp>
#include <weft/task.hpp>
#include <weft/time.hpp>

/// \namespace weft
/// Tokio's programming model for C++20 on Boost.Asio: a work-stealing runtime whose tasks are
/// stackful fibers. Start with weft::runtime and weft::spawn; the user guide is
/// docs/guide/README.md. Names are meant for qualified use (`weft::spawn`): `using namespace
/// weft;` at global scope collides with the C library's time() and signal() and with
/// asio::spawn.
///
/// \namespace weft::this_task
/// Queries and scopes about the calling task (its id, whether it was aborted, shields).
///
/// \namespace weft::time
/// The runtime's clock: now(), and pause / resume / advance for tests with virtual time.
///
/// \namespace weft::error
/// The error_code enumerators of weft's own errors (channel_closed, semaphore_closed, lagged).
///
/// \namespace weft::mpsc
/// Multi-producer, single-consumer channels, bounded and unbounded (Tokio's sync::mpsc).
///
/// \namespace weft::oneshot
/// A channel for exactly one value (Tokio's sync::oneshot).
///
/// \namespace weft::broadcast
/// Multi-producer, multi-consumer channels in which every receiver sees every value (Tokio's
/// sync::broadcast).
///
/// \namespace weft::watch
/// A single value that many receivers observe, waiting for changes (Tokio's sync::watch).
///
/// \namespace weft::net
/// TCP and UDP sockets whose calls suspend the calling task (Tokio's net).
///
/// \namespace weft::signal
/// Waiting for POSIX signals, e.g. ctrl_c (Tokio's signal).
///
/// \namespace weft::fs
/// Whole-file reads and writes on the blocking pool (Tokio's fs).
