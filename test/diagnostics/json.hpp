// A strict little JSON (RFC 8259) parser for checking the console's /tasks.json in tests:
// it rejects anything malformed (so "parses" means "valid JSON") and gives a tree to query.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace weft::test {

struct json_value {
    using array = std::vector<json_value>;
    using object = std::map<std::string, json_value>;
    std::variant<std::nullptr_t, bool, double, std::string, array, object> v;

    [[nodiscard]] const object& obj() const { return std::get<object>(v); }
    [[nodiscard]] const array& arr() const { return std::get<array>(v); }
    [[nodiscard]] const std::string& str() const { return std::get<std::string>(v); }
    [[nodiscard]] double num() const { return std::get<double>(v); }
    [[nodiscard]] const json_value& operator[](const std::string& k) const { return obj().at(k); }
};

class json_parser {
   public:
    /// The value `text` holds; std::runtime_error (with the offset) if it is not valid JSON.
    static json_value parse(std::string_view text) {
        json_parser p(text);
        p.ws();
        json_value v = p.value(0);
        p.ws();
        if (p.i_ != text.size()) p.fail("trailing characters");
        return v;
    }

   private:
    explicit json_parser(std::string_view s)
        : s_(s) {}

    [[noreturn]] void fail(const char* what) const {
        throw std::runtime_error(std::string("invalid JSON at ") + std::to_string(i_) + ": " +
                                 what);
    }
    void ws() {
        while (i_ < s_.size() &&
               (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
            ++i_;
    }
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    void expect(char c) {
        if (peek() != c) fail("unexpected character");
        ++i_;
    }
    void literal(std::string_view w) {
        if (s_.substr(i_, w.size()) != w) fail("bad literal");
        i_ += w.size();
    }

    json_value value(int depth) {
        if (depth > 64) fail("too deep");
        switch (peek()) {
            case '{':
                return {object(depth)};
            case '[':
                return {array(depth)};
            case '"':
                return {string()};
            case 't':
                literal("true");
                return {true};
            case 'f':
                literal("false");
                return {false};
            case 'n':
                literal("null");
                return {nullptr};
            default:
                return {number()};
        }
    }
    json_value::object object(int depth) {
        json_value::object o;
        expect('{');
        ws();
        if (peek() == '}') {
            ++i_;
            return o;
        }
        for (;;) {
            ws();
            std::string k = string();
            ws();
            expect(':');
            ws();
            o[k] = value(depth + 1);
            ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            expect('}');
            return o;
        }
    }
    json_value::array array(int depth) {
        json_value::array a;
        expect('[');
        ws();
        if (peek() == ']') {
            ++i_;
            return a;
        }
        for (;;) {
            ws();
            a.push_back(value(depth + 1));
            ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            expect(']');
            return a;
        }
    }
    unsigned hex4() {
        if (i_ + 4 > s_.size()) fail("short \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            char c = s_[i_++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<unsigned>(c - 'A' + 10);
            else
                fail("bad hex digit");
        }
        return v;
    }
    static void utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    std::string string() {
        expect('"');
        std::string out;
        for (;;) {
            if (i_ >= s_.size()) fail("unterminated string");
            auto c = static_cast<unsigned char>(s_[i_++]);
            if (c == '"') return out;
            if (c < 0x20) fail("control character in string");
            if (c != '\\') {
                out += static_cast<char>(c);
                continue;
            }
            if (i_ >= s_.size()) fail("unterminated escape");
            char e = s_[i_++];
            switch (e) {
                case '"':
                    out += '"';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        literal("\\u");
                        unsigned lo = hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail("bad surrogate pair");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        fail("lone low surrogate");
                    }
                    utf8(out, cp);
                    break;
                }
                default:
                    fail("bad escape");
            }
        }
    }
    double number() {
        std::size_t start = i_;
        if (peek() == '-') ++i_;
        if (peek() == '0') {
            ++i_;
        } else if (peek() >= '1' && peek() <= '9') {
            while (peek() >= '0' && peek() <= '9') ++i_;
        } else {
            fail("not a value");
        }
        if (peek() == '.') {
            ++i_;
            if (!(peek() >= '0' && peek() <= '9')) fail("bad fraction");
            while (peek() >= '0' && peek() <= '9') ++i_;
        }
        if (peek() == 'e' || peek() == 'E') {
            ++i_;
            if (peek() == '+' || peek() == '-') ++i_;
            if (!(peek() >= '0' && peek() <= '9')) fail("bad exponent");
            while (peek() >= '0' && peek() <= '9') ++i_;
        }
        return std::stod(std::string(s_.substr(start, i_ - start)));
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

}  // namespace weft::test
