// Tasks: spawn, join_handle, abort, task_builder, this_task (Tokio's tokio::task).
#pragma once

#include <weft/detail/join_op.hpp>
#include <weft/error.hpp>
#include <weft/task/abort_handle.hpp>
#include <weft/task/join_error.hpp>
#include <weft/task/join_handle.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_builder.hpp>
#include <weft/task/this_task.hpp>
