#include "sim/traffic_log.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/json_util.hpp"
#include "core/wall_time.hpp"

namespace ma::sim {

namespace {

namespace json = boost::json;

core::Unexpected<core::Error> bad_time(std::string_view text) {
  return core::fail("invalid_scenario", "cannot read the time '" + std::string(text.substr(0, 64)) +
                                            "' (RFC 3339, e.g. 2026-11-26T21:00:00+09:00)");
}

bool two_digits(std::string_view s, std::size_t pos, int& out) {
  if (pos + 2 > s.size() || s[pos] < '0' || s[pos] > '9' || s[pos + 1] < '0' || s[pos + 1] > '9')
    return false;
  out = (s[pos] - '0') * 10 + (s[pos + 1] - '0');
  return true;
}

std::string_view string_or_empty(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::optional<double> number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}

std::string describe(const std::optional<core::WallTime>& t, const char* unset) {
  return t ? core::format_rfc3339(*t) : std::string(unset);
}

}  // namespace

core::Result<core::WallTime> parse_log_time(std::string_view text) {
  if (text.size() < 20) return bad_time(text);
  // The log's own form ("2026-11-26T12:00:00.250Z") goes straight to the core parser.
  if (text[10] == 'T' && text.back() == 'Z') {
    if (auto t = core::parse_rfc3339(text)) return *t;
    return bad_time(text);
  }
  std::string local(text);
  if (local[10] == 't' || local[10] == ' ') local[10] = 'T';
  std::chrono::minutes offset{0};
  const char last = local.back();
  if (last == 'Z' || last == 'z') {
    local.back() = 'Z';
  } else {
    // "+09:00" / "-05:30" at the end.
    const std::size_t at = local.size() - 6;
    int hh = 0, mm = 0;
    if ((local[at] != '+' && local[at] != '-') || !two_digits(local, at + 1, hh) ||
        local[at + 3] != ':' || !two_digits(local, at + 4, mm) || hh > 23 || mm > 59) {
      return bad_time(text);
    }
    offset = std::chrono::minutes(hh * 60 + mm);
    if (local[at] == '-') offset = -offset;
    local.resize(at);
    local += 'Z';
  }
  const auto t = core::parse_rfc3339(local);
  if (!t) return bad_time(text);
  // Local time = UTC + offset.
  return *t - offset;
}

core::Result<LogWindow> LogWindow::parse(std::string_view since, std::string_view until,
                                         double speedup) {
  LogWindow w;
  w.speedup = speedup;
  if (!since.empty()) {
    auto t = parse_log_time(since);
    if (!t) return core::fail(std::move(t).error());
    w.since = *t;
  }
  if (!until.empty()) {
    auto t = parse_log_time(until);
    if (!t) return core::fail(std::move(t).error());
    w.until = *t;
  }
  if (!std::isfinite(speedup) || speedup <= 0)
    return core::fail("invalid_scenario", "the log replay's speed-up must be above 0");
  if (w.since && w.until && *w.since >= *w.until)
    return core::fail("invalid_scenario", "the log window's start (" + std::string(since) +
                                              ") must be before its end (" + std::string(until) +
                                              ")");
  return w;
}

core::Result<TrafficLog> read_traffic_log(const std::string& path, const LogWindow& window) {
  if (!std::isfinite(window.speedup) || window.speedup <= 0)
    return core::fail("invalid_scenario", "the log replay's speed-up must be above 0");
  if (window.since && window.until && *window.since >= *window.until)
    return core::fail("invalid_scenario",
                      "the log window's start (" + core::format_rfc3339(*window.since) +
                          ") must be before its end (" + core::format_rfc3339(*window.until) + ")");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return core::fail("not_found", "cannot read the request log " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::fail("not_found", "cannot read the request log " + path);

  TrafficLog out;
  // Arrivals are kept, while reading, as seconds after the first one read (a double holds a
  // day's offsets to well under a microsecond), then moved to the window's start.
  std::optional<core::WallTime> base;
  core::WallTime earliest{};
  // One parse buffer for every line: a line's values live until the next line.
  unsigned char scratch[16 * 1024];
  json::monotonic_resource arena(scratch, sizeof scratch);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++out.lines;
    arena.release();
    boost::system::error_code jec;
    const json::value v = json::parse(line, jec, json::storage_ptr(&arena));
    if (jec || !v.is_object()) {
      ++out.malformed;
      continue;
    }
    const json::object& o = v.get_object();
    const json::value* time = o.if_contains("time");
    const auto latency_ms = number(o, "latency_ms");
    if (time == nullptr || !latency_ms) {
      ++out.not_requests;
      continue;
    }
    const auto queue_wait_ms = number(o, "queue_wait_ms").value_or(0);
    if (!time->is_string() || *latency_ms < 0 || queue_wait_ms < 0) {
      ++out.malformed;
      continue;
    }
    const auto done = parse_log_time(std::string_view(time->get_string()));
    if (!done) {
      ++out.malformed;
      continue;
    }
    const core::WallTime arrival =
        *done - std::chrono::duration_cast<core::WallTime::duration>(
                    std::chrono::duration<double, std::milli>(*latency_ms + queue_wait_ms));
    if ((window.since && arrival < *window.since) || (window.until && arrival >= *window.until)) {
      ++out.outside_window;
      continue;
    }
    if (!base) {
      base = arrival;
      earliest = arrival;
    }
    earliest = std::min(earliest, arrival);
    LoggedMessage m;
    m.at_s = std::chrono::duration<double>(arrival - *base).count();
    m.user = string_or_empty(o, "user");
    m.question = string_or_empty(o, "question");
    m.intent = string_or_empty(o, "intent");
    m.language = string_or_empty(o, "language");
    m.product_id = string_or_empty(o, "price_guard_product");
    out.messages.push_back(std::move(m));
  }
  if (in.bad()) return core::fail("not_found", "cannot read the request log " + path);

  if (out.messages.empty()) {
    return core::fail(
        "invalid_scenario",
        "no requests in the log " + path + " between " + describe(window.since, "its start") +
            " and " + describe(window.until, "its end") + " (" + std::to_string(out.lines) +
            " lines: " + std::to_string(out.outside_window) + " requests outside the window, " +
            std::to_string(out.skipped()) + " skipped)");
  }
  std::stable_sort(out.messages.begin(), out.messages.end(),
                   [](const LoggedMessage& a, const LoggedMessage& b) { return a.at_s < b.at_s; });
  out.start = window.since.value_or(earliest);
  const double shift = std::chrono::duration<double>(out.start - *base).count();
  for (LoggedMessage& m : out.messages) m.at_s = std::max(0.0, m.at_s - shift) / window.speedup;
  out.span_s = out.messages.back().at_s;
  return out;
}

}  // namespace ma::sim
