// What the chat server broadcasts: one line of text and who sent it.
#pragma once

#include <cstdint>
#include <string>

namespace chat {

using client_id = std::uint64_t;

struct message {
    client_id from = 0;  // 0: the server itself
    std::string text;    // a whole line, '\n' included, ready to write to a client
    bool last = false;   // the server is shutting down: close after delivering this
};

}  // namespace chat
