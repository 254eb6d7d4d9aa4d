// Files (Tokio's tokio::fs): fs::file and fs::open_options, the whole-file helpers fs::read
// and fs::write, on a worker's io_uring ring or the blocking pool (fs::io_backend).
#pragma once

#include <weft/error.hpp>
#include <weft/fs/file.hpp>
#include <weft/fs/io_backend.hpp>
#include <weft/fs/open_options.hpp>
#include <weft/fs/whole_file.hpp>
