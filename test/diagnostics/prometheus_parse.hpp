// A strict reader of the Prometheus text exposition format 0.0.4 for the tests: every line
// must be a `# HELP`/`# TYPE` comment or a sample `name{label="value",...} value`, every
// sample's family must have been TYPEd before it (a histogram's _bucket, _sum and _count
// samples belong to the family TYPEd histogram), and values must parse as numbers.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace weft::test {

struct prom_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct prom_exposition {
    std::vector<prom_sample> samples;
    std::map<std::string, std::string> types;  ///< family -> counter/gauge/...
    std::set<std::string> helps;
    std::vector<std::string> errors;  ///< one per offending line; empty when well-formed

    /// The value of the sample `name` with exactly `labels`; NaN-free: -1 when missing.
    [[nodiscard]] double value(const std::string& name,
                               const std::map<std::string, std::string>& labels = {}) const {
        for (const auto& s : samples) {
            if (s.name == name && s.labels == labels) return s.value;
        }
        return -1;
    }
    [[nodiscard]] std::size_t count(const std::string& name) const {
        std::size_t n = 0;
        for (const auto& s : samples) n += s.name == name;
        return n;
    }
};

inline bool prom_name_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
inline bool prom_name_char(char c) {
    return prom_name_start(c) || std::isdigit(static_cast<unsigned char>(c));
}

/// The histogram family a `_bucket`, `_sum` or `_count` sample belongs to; empty if none.
inline std::string family_of_histogram_sample(const prom_exposition& e, const std::string& name) {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
            std::string base = name.substr(0, name.size() - suffix.size());
            auto it = e.types.find(base);
            if (it != e.types.end() && it->second == "histogram") return base;
        }
    }
    return {};
}

inline prom_exposition parse_prometheus(std::string_view text) {
    prom_exposition out;
    if (!text.empty() && text.back() != '\n') out.errors.push_back("does not end with a newline");
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string line(text.substr(pos, nl - pos));
        pos = nl + 1;
        auto bad = [&](const char* why) {
            out.errors.push_back(std::string(why) + ": '" + line + "'");
        };
        if (line.empty()) {
            bad("empty line");
            continue;
        }
        if (line[0] == '#') {
            // "# HELP name text" or "# TYPE name type"
            if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
                std::string rest = line.substr(7);
                std::size_t sp = rest.find(' ');
                if (sp == std::string::npos || sp == 0) {
                    bad("comment without name and text");
                    continue;
                }
                std::string name = rest.substr(0, sp);
                if (line[2] == 'H') {
                    out.helps.insert(name);
                } else {
                    std::string type = rest.substr(sp + 1);
                    if (type != "counter" && type != "gauge" && type != "histogram" &&
                        type != "summary" && type != "untyped") {
                        bad("unknown type");
                    }
                    if (out.types.count(name)) bad("second TYPE line");
                    out.types[name] = type;
                }
            }
            continue;
        }
        prom_sample s;
        std::size_t i = 0;
        if (!prom_name_start(line[0])) {
            bad("sample name");
            continue;
        }
        while (i < line.size() && prom_name_char(line[i])) ++i;
        s.name = line.substr(0, i);
        bool ok = true;
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (ok && i < line.size() && line[i] != '}') {
                std::size_t k0 = i;
                while (i < line.size() && prom_name_char(line[i]) && line[i] != ':') ++i;
                std::string key = line.substr(k0, i - k0);
                if (key.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
                    ok = false;
                    break;
                }
                i += 2;
                std::string val;
                while (i < line.size() && line[i] != '"') {
                    if (line[i] == '\\' && i + 1 < line.size()) ++i;
                    val += line[i++];
                }
                if (i >= line.size()) {
                    ok = false;
                    break;
                }
                ++i;  // closing quote
                s.labels[key] = val;
                if (i < line.size() && line[i] == ',') ++i;
            }
            if (!ok || i >= line.size() || line[i] != '}') {
                bad("labels");
                continue;
            }
            ++i;
        }
        if (i >= line.size() || line[i] != ' ') {
            bad("no single space before the value");
            continue;
        }
        std::string value = line.substr(i + 1);
        char* end = nullptr;
        s.value = std::strtod(value.c_str(), &end);
        if (value.empty() || end != value.c_str() + value.size()) {
            bad("value is not a number");
            continue;
        }
        if (!out.types.count(s.name) && family_of_histogram_sample(out, s.name).empty()) {
            bad("sample before its TYPE line");
        }
        out.samples.push_back(std::move(s));
    }
    return out;
}

}  // namespace weft::test
