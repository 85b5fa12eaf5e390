#include "observe/request_log.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "core/json_util.hpp"
#include "core/text.hpp"
#include "core/wall_time.hpp"

namespace ma::observe {

namespace {
bool is_email_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
         c == '+' || c == '%';
}
}  // namespace

namespace {
// True when the text cannot hold anything redact() would change: no '@', no "earer ", no run
// of 10+ digits (with separators) and no run of 32+ word characters. One pass, no allocation.
bool nothing_to_redact(std::string_view s) {
  std::size_t digits = 0, word = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '@') return false;
    if (c == 'e' && s.substr(i, 6) == "earer ") return false;
    const bool digit = c >= '0' && c <= '9';
    const bool sep = c == '-' || c == ' ' || c == '.' || c == '(' || c == ')' || c == '+';
    digits = digit ? digits + 1 : (sep ? digits : 0);
    if (digits >= 10) return false;
    const bool w = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    word = w ? word + 1 : 0;
    if (word >= 32) return false;
  }
  return true;
}
}  // namespace

std::string redact(std::string_view in) {
  if (nothing_to_redact(in)) return std::string(in);
  std::string s(in);
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    // "Bearer <token>"
    if ((s.compare(i, 7, "Bearer ") == 0 || s.compare(i, 7, "bearer ") == 0)) {
      out += "Bearer [redacted]";
      i += 7;
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != '"') ++i;
      continue;
    }
    // e-mail: a run of email characters containing '@' and a dot after it.
    if (is_email_char(s[i])) {
      std::size_t j = i;
      while (j < s.size() && (is_email_char(s[j]) || s[j] == '@')) ++j;
      const std::string_view run(s.data() + i, j - i);
      const auto at = run.find('@');
      if (at != std::string_view::npos && at > 0 && run.find('.', at) != std::string_view::npos) {
        out += "[redacted]";
        i = j;
        continue;
      }
      // phone numbers: 10+ digits with spaces, dashes, dots, parentheses or a leading '+'.
      std::size_t k = i, digits = 0;
      while (k < s.size() &&
             (std::isdigit(static_cast<unsigned char>(s[k])) || s[k] == '-' || s[k] == ' ' ||
              s[k] == '.' || s[k] == '(' || s[k] == ')' || s[k] == '+')) {
        digits += std::isdigit(static_cast<unsigned char>(s[k])) ? 1 : 0;
        ++k;
      }
      if (digits >= 10) {
        out += "[redacted]";
        if (k > i && s[k - 1] == ' ') out += ' ';
        i = k;
        continue;
      }
      // long secrets: 32+ characters of [A-Za-z0-9_-] in one run.
      std::size_t m = i;
      while (m < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[m])) || s[m] == '_' || s[m] == '-'))
        ++m;
      if (m - i >= 32) {
        out += "[redacted]";
        i = m;
        continue;
      }
      out.append(s, i, std::max<std::size_t>(1, m - i));
      i += std::max<std::size_t>(1, m - i);
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

std::string hash_user(std::string_view user_id) {
  if (user_id.empty()) return "";
  const std::uint64_t h = core::fnv1a("mangaassist-user:" + std::string(user_id));
  char buf[20];
  std::snprintf(buf, sizeof buf, "u_%012llx",
                static_cast<unsigned long long>(h & 0xffffffffffffULL));
  return buf;
}

std::string rfc3339(core::WallTime t) { return core::format_rfc3339(t); }

std::string to_json_line(const RequestLog& l) {
  std::string o;
  o.reserve(512);
  auto field = [&](std::string_view k, std::string_view v) {
    o += o.empty() ? "{" : ",";
    core::append_json_string(o, k);
    o += ':';
    core::append_json_string(o, v);
  };
  auto number = [&](std::string_view k, double v) {
    o += ',';
    core::append_json_string(o, k);
    o += ':';
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    o.append(buf, r.ptr);
  };
  auto integer = [&](std::string_view k, long long v) {
    o += ',';
    core::append_json_string(o, k);
    o += ':' + std::to_string(v);
  };
  auto boolean = [&](std::string_view k, bool v) {
    o += ',';
    core::append_json_string(o, k);
    o += v ? ":true" : ":false";
  };
  field("time", rfc3339(l.time));
  field("level", l.level);
  field("trace_id", l.trace_id);
  field("user", l.user);
  field("tier", l.tier);
  field("intent", l.intent);
  field("language", l.language);
  integer("attempts", l.attempts);
  integer("retries", l.retries);
  field("error_code", l.error_code);
  field("error_class", l.error_class);
  field("error_message", redact(l.error_message));
  number("latency_ms", l.latency_ms);
  number("queue_wait_ms", l.queue_wait_ms);
  field("admission", l.admission);
  field("cache_category", l.cache_category);
  field("price_guard", l.price_guard);
  field("price_guard_product", l.price_guard_product);
  boolean("degraded", l.degraded);
  boolean("deduplicated", l.deduplicated);
  boolean("trace_kept", l.trace_kept);
  field("models", l.models);
  field("question", redact(l.question));
  o += '}';
  return o;
}

LogSink::LogSink(const std::string& path, bool to_stdout) : to_stdout_(to_stdout) {
  if (!path.empty()) file_ = std::fopen(path.c_str(), "a");
}

void LogSink::flush() {
  std::lock_guard lock(mu_);
  if (file_ != nullptr && unflushed_ > 0) {
    std::fflush(file_);
    unflushed_ = 0;
  }
  if (to_stdout_) std::fflush(stdout);
}

LogSink::~LogSink() {
  if (file_ != nullptr) std::fclose(file_);
}

void LogSink::write(const RequestLog& log) { write_line(to_json_line(log), log.level == "ERROR"); }

void LogSink::write_line(std::string_view line, bool flush_now) {
  std::lock_guard lock(mu_);
  if (file_ != nullptr) {
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fputc('\n', file_);
    // NOTE: a flush per line is a syscall per request (~45,000/s under load); errors go out
    // at once, other lines every 64 and at shutdown.
    if (flush_now || ++unflushed_ >= 64) {
      std::fflush(file_);
      unflushed_ = 0;
    }
  }
  if (to_stdout_) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  }
}

}  // namespace ma::observe
