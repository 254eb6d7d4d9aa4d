// Umbrella for the channel area (see docs/guide/channels-and-sync.md): mpsc, oneshot, broadcast,
// watch.
#pragma once

#include <weft/channel/broadcast.hpp>
#include <weft/channel/mpsc.hpp>
#include <weft/channel/oneshot.hpp>
#include <weft/channel/watch.hpp>
#include <weft/error.hpp>
