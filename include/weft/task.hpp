// Tasks: spawn, join_handle, abort, task_builder, this_task (Tokio's tokio::task).
#pragma once

#include <weft/detail/join_op.hpp>
#include <weft/error.hpp>
#include <weft/task/abort_handle.hpp>
#include <weft/task/join.hpp>
#include <weft/task/join_error.hpp>
#include <weft/task/join_handle.hpp>
#include <weft/task/join_set.hpp>
#include <weft/task/offload.hpp>
#include <weft/task/scoped.hpp>
#include <weft/task/select.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_builder.hpp>
#include <weft/task/task_local.hpp>
#include <weft/task/task_tracker.hpp>
#include <weft/task/this_task.hpp>
