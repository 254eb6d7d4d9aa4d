// Files (Tokio's tokio::fs): fs::read, fs::write on the blocking pool.
#pragma once

#include <weft/error.hpp>
#include <weft/fs/whole_file.hpp>
