#include "observe/log_query.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <map>

#include "core/json_util.hpp"
#include "core/wall_time.hpp"

namespace ma::observe {

namespace json = boost::json;

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Splits on `sep` outside double quotes.
std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') quoted = !quoted;
    if (!quoted && s.substr(i, sep.size()) == sep) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + sep.size();
      i += sep.size() - 1;
    }
  }
  out.push_back(trim(s.substr(start)));
  return out;
}

bool parse_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return *end == '\0';
}

std::string cell(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return "";
  if (v.is_bool()) return v.get_bool() ? "true" : "false";
  if (v.is_double()) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%g", v.get_double());
    return buf;
  }
  return json::serialize(v);
}

// bin(5m) -> seconds; 0 when not a bin.
long long bin_seconds(const std::string& f) {
  if (f.rfind("bin(", 0) != 0 || f.back() != ')') return 0;
  const std::string inner = f.substr(4, f.size() - 5);
  if (inner.empty()) return 0;
  const char unit = inner.back();
  const long long n = std::atoll(inner.substr(0, inner.size() - 1).c_str());
  if (n <= 0) return 0;
  return unit == 's' ? n : unit == 'm' ? n * 60 : unit == 'h' ? n * 3600 : 0;
}

// "2026-11-26T19:22:41.123Z" floored to a bin, same format without millis.
std::string bin_time(const std::string& t, long long secs) {
  const auto parsed = core::parse_rfc3339(t);
  if (!parsed) return "";
  auto e = std::chrono::duration_cast<std::chrono::seconds>(parsed->time_since_epoch()).count();
  e -= ((e % secs) + secs) % secs;
  return core::format_rfc3339(core::WallTime(std::chrono::seconds(e)), false);
}

bool matches(const json::object& o, const Condition& c) {
  const json::value* v = o.if_contains(c.field);
  const std::string text = v ? cell(*v) : "";
  if (c.op == "like") return text.find(c.value) != std::string::npos;
  if (c.numeric) {
    double a, b;
    if (!parse_number(text, a) || !parse_number(c.value, b)) return c.op == "!=";
    if (c.op == "=") return a == b;
    if (c.op == "!=") return a != b;
    if (c.op == "<") return a < b;
    if (c.op == "<=") return a <= b;
    if (c.op == ">") return a > b;
    if (c.op == ">=") return a >= b;
    return false;
  }
  if (c.op == "=") return text == c.value;
  if (c.op == "!=") return text != c.value;
  if (c.op == "<") return text < c.value;
  if (c.op == "<=") return text <= c.value;
  if (c.op == ">") return text > c.value;
  if (c.op == ">=") return text >= c.value;
  return false;
}

}  // namespace

core::Result<LogQuery> parse_log_query(std::string_view text) {
  LogQuery q;
  for (const std::string& cmd : split(text, "|")) {
    if (cmd.empty()) continue;
    const std::size_t sp = cmd.find(' ');
    const std::string verb = cmd.substr(0, sp);
    const std::string rest = sp == std::string::npos ? "" : trim(std::string_view(cmd).substr(sp));
    if (verb == "filter") {
      for (const std::string& part : split(rest, " and ")) {
        Condition c;
        std::size_t pos = std::string::npos;
        for (const char* op : {"!=", "<=", ">=", " like ", "=", "<", ">"}) {
          pos = part.find(op);
          if (pos != std::string::npos) {
            c.op = trim(op);
            c.field = trim(std::string_view(part).substr(0, pos));
            c.value = trim(std::string_view(part).substr(pos + std::string_view(op).size()));
            break;
          }
        }
        if (pos == std::string::npos || c.field.empty()) {
          return core::fail("invalid_query", "cannot read the condition '" + part + "'");
        }
        if (c.value.size() >= 2 && c.value.front() == '"' && c.value.back() == '"') {
          c.value = c.value.substr(1, c.value.size() - 2);
        } else {
          double d;
          if (!parse_number(c.value, d)) {
            return core::fail("invalid_query",
                              "value '" + c.value + "' must be a number or a \"string\"");
          }
          c.numeric = true;
        }
        q.filter.push_back(std::move(c));
      }
    } else if (verb == "stats") {
      if (rest.rfind("count by ", 0) != 0)
        return core::fail("invalid_query", "only `stats count by FIELD` is supported");
      q.stats = true;
      for (const std::string& f : split(rest.substr(9), ",")) {
        if (f.rfind("bin(", 0) == 0 && bin_seconds(f) == 0)
          return core::fail("invalid_query", "bad bin: " + f);
        q.group_by.push_back(f);
      }
    } else if (verb == "sort") {
      const auto words = split(rest, " ");
      if (words.empty() || words[0].empty())
        return core::fail("invalid_query", "sort needs a field");
      q.sort_field = words[0];
      q.sort_desc = words.size() > 1 && words[1] == "desc";
    } else if (verb == "fields") {
      q.fields = split(rest, ",");
    } else if (verb == "limit") {
      double n;
      if (!parse_number(rest, n) || n < 1)
        return core::fail("invalid_query", "limit needs a positive number");
      q.limit = static_cast<std::size_t>(n);
    } else {
      return core::fail("invalid_query",
                        "unknown command '" + verb + "' (filter, stats, sort, fields, limit)");
    }
  }
  return q;
}

Table run_log_query(const LogQuery& q, const std::vector<std::string>& lines,
                    std::size_t* skipped) {
  Table t;
  std::size_t bad = 0;
  std::vector<json::object> kept;
  for (const auto& line : lines) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object()) {
      ++bad;
      continue;
    }
    const auto& o = v.get_object();
    if (std::all_of(q.filter.begin(), q.filter.end(),
                    [&](const Condition& c) { return matches(o, c); })) {
      kept.push_back(o);
    }
  }
  if (skipped) *skipped = bad;
  if (q.stats) {
    std::map<std::vector<std::string>, long long> counts;
    for (const auto& o : kept) {
      std::vector<std::string> key;
      for (const auto& f : q.group_by) {
        if (const long long b = bin_seconds(f)) {
          const auto* tv = o.if_contains("time");
          key.push_back(tv ? bin_time(cell(*tv), b) : "");
        } else {
          const auto* v = o.if_contains(f);
          key.push_back(v ? cell(*v) : "");
        }
      }
      ++counts[key];
    }
    t.header = q.group_by;
    t.header.push_back("count");
    for (auto& [k, n] : counts) {
      auto row = k;
      row.push_back(std::to_string(n));
      t.rows.push_back(std::move(row));
    }
  } else {
    t.header = q.fields.empty()
                   ? std::vector<std::string>{"time",   "level",      "trace_id",  "tier",
                                              "intent", "error_code", "latency_ms"}
                   : q.fields;
    for (const auto& o : kept) {
      std::vector<std::string> row;
      for (const auto& f : t.header) {
        const auto* v = o.if_contains(f);
        row.push_back(v ? cell(*v) : "");
      }
      t.rows.push_back(std::move(row));
    }
  }
  if (!q.sort_field.empty()) {
    const auto it = std::find(t.header.begin(), t.header.end(), q.sort_field);
    if (it != t.header.end()) {
      const std::size_t col = static_cast<std::size_t>(it - t.header.begin());
      std::stable_sort(t.rows.begin(), t.rows.end(), [&](const auto& a, const auto& b) {
        double x, y;
        const bool num = parse_number(a[col], x) && parse_number(b[col], y);
        const bool less = num ? x < y : a[col] < b[col];
        const bool greater = num ? x > y : a[col] > b[col];
        return q.sort_desc ? greater : less;
      });
    }
  }
  if (q.limit > 0 && t.rows.size() > q.limit) t.rows.resize(q.limit);
  return t;
}

std::string Table::format() const {
  std::vector<std::size_t> width(header.size(), 0);
  auto w = [](const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
  };
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = w(header[i]);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], w(r[i]));
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - w(cells[i]) + 2, ' ');
    }
    out += '\n';
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

}  // namespace ma::observe
