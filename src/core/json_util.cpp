#include "core/json_util.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ma::core {

Result<boost::json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return fail("invalid_json", ec.message());
  return v;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("io_error", "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
const boost::json::value* member(const boost::json::value& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  return v.get_object().if_contains(key);
}
}  // namespace

std::optional<std::string_view> get_string(const boost::json::value& v, std::string_view key) {
  const auto* m = member(v, key);
  if (m == nullptr || !m->is_string()) return std::nullopt;
  return std::string_view(m->get_string());
}

std::optional<double> get_number(const boost::json::value& v, std::string_view key) {
  const auto* m = member(v, key);
  if (m == nullptr) return std::nullopt;
  if (m->is_double()) return m->get_double();
  if (m->is_int64()) return static_cast<double>(m->get_int64());
  if (m->is_uint64()) return static_cast<double>(m->get_uint64());
  return std::nullopt;
}

std::optional<std::int64_t> get_int(const boost::json::value& v, std::string_view key) {
  const auto* m = member(v, key);
  if (m == nullptr) return std::nullopt;
  if (m->is_int64()) return m->get_int64();
  if (m->is_uint64() && m->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(m->get_uint64());
  }
  if (m->is_double() && std::trunc(m->get_double()) == m->get_double() &&
      std::abs(m->get_double()) < 9e15) {
    return static_cast<std::int64_t>(m->get_double());
  }
  return std::nullopt;
}

std::optional<bool> get_bool(const boost::json::value& v, std::string_view key) {
  const auto* m = member(v, key);
  if (m == nullptr || !m->is_bool()) return std::nullopt;
  return m->get_bool();
}

namespace {
// Whether any of the 8 bytes of `w` is a control character (< 0x20), '"' or '\\': the
// bytes a JSON string must escape. Bit tricks on a 64-bit word (a byte is "zero" when the
// subtraction borrows through it), so that text with nothing to escape is scanned 8 bytes
// at a time.
inline bool needs_escape(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  auto has_zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  const std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return (below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) != 0;
}
}  // namespace

void append_json_key(std::string& out, std::string_view key) {
  out += out.empty() ? "{\"" : ",\"";
  out += key;
  out += "\":";
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of characters that need no escape
  std::size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!needs_escape(w)) {
        i += 8;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    out.append(s.data() + run, i - run);
    run = ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

}  // namespace ma::core
