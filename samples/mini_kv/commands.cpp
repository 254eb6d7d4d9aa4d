#include "commands.hpp"

#include "resp.hpp"

#include <weft/time.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace kv {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b, [](char x, char y) {
        return (x >= 'a' && x <= 'z' ? x - 32 : x) == (y >= 'a' && y <= 'z' ? y - 32 : y);
    });
}

std::optional<long long> to_integer(std::string_view s) {
    long long n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return n;
}

after wrong_arity(std::string& out, std::string_view name) {
    std::string lower(name);
    std::ranges::transform(lower, lower.begin(),
                           [](char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; });
    resp::append_error(out, "ERR wrong number of arguments for '" + lower + "' command");
    return after::reply;
}

/// The deadline `amount` (in `unit_ms` milliseconds; absolute Unix time if `absolute`) means,
/// or nullopt if it is not a positive integer Redis would accept.
std::optional<clock::time_point> deadline_of(std::string_view amount, long long unit_ms,
                                             bool absolute) {
    auto n = to_integer(amount);
    if (!n || *n <= 0 || *n > (1LL << 53) / unit_ms) return std::nullopt;
    long long ms = *n * unit_ms;
    if (absolute) {
        ms -= std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    }
    // A deadline past a century is as good as none (and would overflow steady_clock's
    // nanoseconds).
    if (ms > 100LL * 365 * 24 * 3600 * 1000) return never;
    return weft::time::now() + std::chrono::milliseconds(ms);
}

// [set_command]
void set_command(std::vector<std::string>& argv, store& db, std::string& out) {
    set_condition cond = set_condition::always;
    clock::time_point expires = never;
    bool has_expiry = false;
    for (std::size_t i = 3; i < argv.size(); ++i) {
        std::string_view opt = argv[i];
        if (iequals(opt, "NX") && cond == set_condition::always) {
            cond = set_condition::if_absent;
        } else if (iequals(opt, "XX") && cond == set_condition::always) {
            cond = set_condition::if_present;
        } else if (!has_expiry && i + 1 < argv.size() &&
                   (iequals(opt, "EX") || iequals(opt, "PX") || iequals(opt, "EXAT") ||
                    iequals(opt, "PXAT"))) {
            const bool seconds = iequals(opt, "EX") || iequals(opt, "EXAT");
            const bool absolute = iequals(opt, "EXAT") || iequals(opt, "PXAT");
            auto d = deadline_of(argv[++i], seconds ? 1000 : 1, absolute);
            if (!d) return resp::append_error(out, "ERR invalid expire time in 'set' command");
            expires = *d;
            has_expiry = true;
        } else {
            return resp::append_error(out, "ERR syntax error");
        }
    }
    if (db.set(argv[1], std::move(argv[2]), cond, expires)) {
        resp::append_simple(out, "OK");
    } else {
        resp::append_null(out);  // NX or XX said no
    }
}
// [set_command]

/// CONFIG GET: redis-benchmark asks for "save" and "appendonly" before it starts.
void config_command(const std::vector<std::string>& argv, std::string& out) {
    if (argv.size() != 3 || !iequals(argv[1], "GET")) {
        return resp::append_error(out, "ERR mini_kv supports only CONFIG GET parameter");
    }
    if (iequals(argv[2], "save") || iequals(argv[2], "appendonly")) {
        resp::append_array(out, 2);
        resp::append_bulk(out, argv[2]);
        resp::append_bulk(out, iequals(argv[2], "save") ? "" : "no");
    } else {
        resp::append_array(out, 0);
    }
}

}  // namespace

// [dispatch]
after execute(std::vector<std::string>& argv, store& db, std::string& out) {
    const std::string_view name = argv[0];
    const std::size_t argc = argv.size();
    if (iequals(name, "GET")) {
        if (argc != 2) return wrong_arity(out, name);
        if (auto v = db.get(argv[1])) {
            resp::append_bulk(out, *v);
        } else {
            resp::append_null(out);
        }
    } else if (iequals(name, "SET")) {
        if (argc < 3) return wrong_arity(out, name);
        set_command(argv, db, out);
    } else if (iequals(name, "INCR")) {
        if (argc != 2) return wrong_arity(out, name);
        auto r = db.incr(argv[1]);
        if (auto* n = std::get_if<long long>(&r)) {
            resp::append_integer(out, *n);
        } else {
            resp::append_error(out, std::get<const char*>(r));
        }
    } else if (iequals(name, "DEL") || iequals(name, "EXISTS")) {
        if (argc < 2) return wrong_arity(out, name);
        const bool del = iequals(name, "DEL");
        long long n = 0;
        for (std::size_t i = 1; i < argc; ++i) n += del ? db.del(argv[i]) : db.exists(argv[i]);
        resp::append_integer(out, n);
    } else if (iequals(name, "PING")) {
        if (argc > 2) return wrong_arity(out, name);
        if (argc == 2) {
            resp::append_bulk(out, argv[1]);
        } else {
            resp::append_simple(out, "PONG");
        }
    } else if (iequals(name, "ECHO")) {
        if (argc != 2) return wrong_arity(out, name);
        resp::append_bulk(out, argv[1]);
    } else if (iequals(name, "CONFIG")) {
        config_command(argv, out);
    } else if (iequals(name, "COMMAND")) {
        resp::append_array(out, 0);  // redis-cli asks for command docs; it copes without them
    } else if (iequals(name, "QUIT")) {
        resp::append_simple(out, "OK");
        return after::reply_and_close;
    } else {
        resp::append_error(out, "ERR unknown command '" + std::string(name.substr(0, 128)) + "'");
    }
    return after::reply;
}
// [dispatch]

}  // namespace kv
