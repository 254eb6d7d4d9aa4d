// Asio interop: weft::executor (runtime::get_executor), current_io_executor, use_fiber.
#pragma once

#include <weft/asio/executor.hpp>
#include <weft/asio/use_fiber.hpp>
#include <weft/error.hpp>
