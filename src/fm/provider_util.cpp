#include "fm/provider_util.hpp"

#include <charconv>
#include <cstdlib>

namespace ma::fm {

using resilience::ErrorClass;

std::string system_prompt(const ModelRequest& req) {
  const bool ja = req.lang == Language::kJa;
  static const Facts kNone;
  const Facts& facts = req.facts != nullptr ? *req.facts : kNone;
  std::string s(req.system);
  s += ja ? "\n\n事実:\n" : "\n\nFacts:\n";
  if (facts.lines.empty()) s += ja ? "- （該当なし）\n" : "- (none)\n";
  for (const auto& line : facts.lines) s += "- " + line + "\n";
  if (!facts.draft.empty()) {
    s += ja ? "\n参考回答（事実のみから作成）:\n" : "\nReference answer (from the facts alone):\n";
    s += facts.draft;
    s += '\n';
  }
  return s;
}

ModelError model_error(ErrorClass kind, std::string code, std::string message, int http_status) {
  ModelError e;
  e.kind = kind;
  e.code = code;
  e.raw_code = std::move(code);
  e.message = std::move(message);
  e.http_status = http_status;
  return e;
}

ModelError transport_error(const HttpError& e) {
  ErrorClass kind = ErrorClass::kTransient;
  std::string code = "ConnectionError";
  if (e.code == "timeout") {
    kind = ErrorClass::kTimeout;
    code = "DeadlineExceeded";
  } else if (e.code == "first_byte_timeout") {
    kind = ErrorClass::kTimeout;
    code = "FirstTokenTimeout";
  } else if (e.code == "stream_stalled") {
    kind = ErrorClass::kTimeout;
    code = "StreamStalled";
  } else if (e.code == "cancelled") {
    code = "Cancelled";
  }
  ModelError m = model_error(kind, std::move(code), e.message);
  m.raw_code = e.code;
  return m;
}

int estimate_tokens(std::string_view text) {
  std::size_t ascii = 0, other = 0;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      ++ascii;
    } else if ((b & 0xC0) != 0x80) {
      ++other;  // the lead byte of a multi-byte code point
    }
  }
  return static_cast<int>((ascii + 3) / 4 + other);
}

std::optional<core::Duration> retry_after(const std::map<std::string, std::string>& h) {
  // AWS services: x-amz-retry-after, whole milliseconds (botocore's 2026 retry vectors: a
  // value that is not a positive integer is no hint at all).
  if (auto it = h.find("x-amz-retry-after"); it != h.end()) {
    long long ms = 0;
    const std::string& v = it->second;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
    if (ec == std::errc() && end == v.data() + v.size() && ms > 0 && ms <= 120'000)
      return std::chrono::milliseconds(ms);
  }
  if (auto it = h.find("retry-after-ms"); it != h.end()) {
    char* end = nullptr;
    const double ms = std::strtod(it->second.c_str(), &end);
    if (*end == '\0' && ms > 0 && ms <= 120'000) return core::from_seconds(ms / 1000);
  }
  if (auto it = h.find("retry-after"); it != h.end()) {
    char* end = nullptr;
    const double s = std::strtod(it->second.c_str(), &end);
    if (*end == '\0' && s > 0 && s <= 120) return core::from_seconds(s);
  }
  return std::nullopt;
}

}  // namespace ma::fm
