// The line each asio_legacy connection starts with, naming the step that serves it (the test
// checks it).
#pragma once

#include <string>

namespace legacy {

inline std::string greeting(int step) { return "asio_legacy step " + std::to_string(step) + "\n"; }

}  // namespace legacy
