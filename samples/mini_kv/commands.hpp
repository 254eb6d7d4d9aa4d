// The commands mini_kv understands, and how each one's reply is written.
#pragma once

#include "store.hpp"

#include <string>
#include <vector>

namespace kv {

/// What the connection does after a command.
enum class after { reply, reply_and_close /* QUIT */ };

/// Runs one request (argv[0] is the command name, any case) against `db` and appends its
/// RESP reply to `out`. Errors (unknown command, wrong arguments, not an integer) are
/// replies, never exceptions: the connection goes on. Supported: PING [msg], ECHO msg,
/// GET key, SET key value [NX|XX] [EX s|PX ms|EXAT unix-s|PXAT unix-ms], DEL key...,
/// EXISTS key..., INCR key, QUIT, and enough COMMAND and CONFIG GET for redis-cli and
/// redis-benchmark.
after execute(std::vector<std::string>& argv, store& db, std::string& out);

}  // namespace kv
