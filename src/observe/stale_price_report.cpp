#include "observe/stale_price_report.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace ma::observe {

namespace {

namespace json = boost::json;

// Reads exactly `n` ASCII digits at s[at]; advances `at`.
std::optional<int> digits(std::string_view s, std::size_t& at, std::size_t n) {
  if (s.size() - at < n) return std::nullopt;
  int v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const char c = s[at + k];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  at += n;
  return v;
}

bool take(std::string_view s, std::size_t& at, char c) {
  if (at >= s.size() || s[at] != c) return false;
  ++at;
  return true;
}

std::optional<std::int64_t> whole_number(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  boost::system::error_code ec;
  const auto n = v->to_number<std::int64_t>(ec);
  if (ec) return std::nullopt;
  return n;
}

std::string string_or_empty(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

std::optional<core::WallTime> parse_report_time(std::string_view s) {
  using namespace std::chrono;
  std::size_t at = 0;
  const auto y = digits(s, at, 4);
  if (!y || !take(s, at, '-')) return std::nullopt;
  const auto mo = digits(s, at, 2);
  if (!mo || !take(s, at, '-')) return std::nullopt;
  const auto d = digits(s, at, 2);
  if (!d) return std::nullopt;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  core::WallTime t = time_point_cast<core::WallTime::duration>(sys_days{ymd});
  if (at == s.size()) return t;  // a bare date: midnight UTC

  if (s[at] != 'T' && s[at] != 't' && s[at] != ' ') return std::nullopt;
  ++at;
  const auto h = digits(s, at, 2);
  if (!h || !take(s, at, ':')) return std::nullopt;
  const auto mi = digits(s, at, 2);
  if (!mi || !take(s, at, ':')) return std::nullopt;
  const auto sec = digits(s, at, 2);
  // RFC 3339 allows a leap second (:60); it reads as the next second's start.
  if (!sec || *h > 23 || *mi > 59 || *sec > 60) return std::nullopt;
  t += hours(*h) + minutes(*mi) + seconds(*sec);
  if (take(s, at, '.')) {
    nanoseconds frac{0};
    std::int64_t scale = 100'000'000;
    const std::size_t first = at;
    for (; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at) {
      frac += nanoseconds((s[at] - '0') * scale);  // digits past the ninth add nothing
      scale /= 10;
    }
    if (at == first) return std::nullopt;
    t += duration_cast<core::WallTime::duration>(frac);
  }
  if (at >= s.size()) return std::nullopt;  // RFC 3339 requires the offset
  if (s[at] == 'Z' || s[at] == 'z') {
    ++at;
  } else if (s[at] == '+' || s[at] == '-') {
    const bool east = s[at] == '+';
    ++at;
    const auto oh = digits(s, at, 2);
    if (!oh || !take(s, at, ':')) return std::nullopt;
    const auto om = digits(s, at, 2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    const auto offset = hours(*oh) + minutes(*om);
    // Local time = UTC + offset.
    t += east ? -offset : offset;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  return t;
}

std::string csv_field(std::string_view f) {
  if (f.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(f);
  std::string out;
  out.reserve(f.size() + 4);
  out += '"';
  for (char c : f) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

void StalePriceReport::add_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank
  ++counts_.lines;
  boost::system::error_code ec;
  const json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) {
    ++counts_.malformed;
    return;
  }
  const json::object& o = v.get_object();
  const json::value* time = o.if_contains("time");
  const json::value* trace = o.if_contains("trace_id");
  if (time == nullptr || !time->is_string() || trace == nullptr || !trace->is_string()) {
    ++counts_.other_kinds;
    return;
  }
  const auto t = parse_report_time(time->get_string());
  if (!t) {
    ++counts_.malformed;
    return;
  }
  if ((since_ && *t < *since_) || (until_ && *t >= *until_)) {
    ++counts_.outside_window;
    return;
  }
  const json::value* prices = o.if_contains("prices");
  if (prices == nullptr) {
    ++counts_.without_prices;
    return;
  }
  if (!prices->is_array()) {
    ++counts_.malformed;
    return;
  }
  // Read the whole array before taking anything from it: a malformed line gives nothing.
  std::vector<StalePriceRow> found;
  for (const json::value& e : prices->get_array()) {
    const json::object* p = e.if_object();
    const json::value* product = p != nullptr ? p->if_contains("product") : nullptr;
    const auto quoted = p != nullptr ? whole_number(p->if_contains("quoted_yen")) : std::nullopt;
    const auto paid = p != nullptr ? whole_number(p->if_contains("catalog_yen")) : std::nullopt;
    const json::value* list_v = p != nullptr ? p->if_contains("list_yen") : nullptr;
    const auto list = whole_number(list_v);
    if (product == nullptr || !product->is_string() || !quoted || !paid ||
        (list_v != nullptr && !list)) {
      ++counts_.malformed;
      return;
    }
    if (*quoted == *paid || (list && *quoted == *list)) continue;  // the guard's rule
    const std::string_view id = product->get_string();
    auto same = std::find_if(found.begin(), found.end(),
                             [&](const StalePriceRow& r) { return r.product_id == id; });
    if (same != found.end()) {
      same->quoted_yen = std::min(same->quoted_yen, *quoted);
      continue;
    }
    StalePriceRow r;
    r.product_id = std::string(id);
    r.quoted_yen = *quoted;
    r.actual_yen = *paid;
    found.push_back(std::move(r));
  }
  ++counts_.judged;
  if (found.empty()) return;
  const std::string user = string_or_empty(o, "user");
  const std::string tier = string_or_empty(o, "tier");
  ++replies_;
  if (!user.empty()) customers_.insert(user);
  // In time order: after every row of the same time or earlier (most lines come in order, so
  // the place is found near the end).
  auto place = std::upper_bound(rows_.begin(), rows_.end(), *t,
                                [](core::WallTime x, const StalePriceRow& r) { return x < r.at; });
  for (StalePriceRow& r : found) {
    r.at = *t;
    r.time = std::string(time->get_string());
    r.user = user;
    r.tier = tier;
    r.trace_id = std::string(trace->get_string());
    total_delta_ += r.delta_yen();
    (r.delta_yen() < 0 ? underquoted_ : overquoted_) += std::abs(r.delta_yen());
    place = rows_.insert(place, std::move(r)) + 1;
  }
}

StalePriceSummary StalePriceReport::summary() const {
  StalePriceSummary s = counts_;
  s.customers = customers_.size();
  s.replies = replies_;
  s.rows = rows_.size();
  s.total_delta_yen = total_delta_;
  s.underquoted_yen = underquoted_;
  s.overquoted_yen = overquoted_;
  return s;
}

std::string StalePriceReport::csv() const {
  std::string out = "time,user,product_id,quoted_yen,actual_yen,delta_yen,tier,trace_id\n";
  for (const StalePriceRow& r : rows_) {
    out += csv_field(r.time);
    out += ',';
    out += csv_field(r.user);
    out += ',';
    out += csv_field(r.product_id);
    out += ',';
    append_int(out, r.quoted_yen);
    out += ',';
    append_int(out, r.actual_yen);
    out += ',';
    append_int(out, r.delta_yen());
    out += ',';
    out += csv_field(r.tier);
    out += ',';
    out += csv_field(r.trace_id);
    out += '\n';
  }
  const StalePriceSummary s = summary();
  auto count = [&](std::string_view name, std::int64_t v, bool first = false) {
    out += first ? "# " : " ";
    out += name;
    out += '=';
    append_int(out, v);
  };
  count("customers", static_cast<std::int64_t>(s.customers), true);
  count("replies", static_cast<std::int64_t>(s.replies));
  count("rows", static_cast<std::int64_t>(s.rows));
  count("total_delta_yen", s.total_delta_yen);
  count("underquoted_yen", s.underquoted_yen);
  count("overquoted_yen", s.overquoted_yen);
  out += '\n';
  count("lines", static_cast<std::int64_t>(s.lines), true);
  count("judged", static_cast<std::int64_t>(s.judged));
  count("outside_window", static_cast<std::int64_t>(s.outside_window));
  count("without_prices", static_cast<std::int64_t>(s.without_prices));
  count("other_kinds", static_cast<std::int64_t>(s.other_kinds));
  count("malformed", static_cast<std::int64_t>(s.malformed));
  out += '\n';
  return out;
}

int report_stale_prices_main(const std::string& log_path, const std::optional<std::string>& since,
                             const std::optional<std::string>& until, std::FILE* out,
                             std::FILE* err) {
  constexpr const char* kWho = "mangaassist report stale-prices";
  constexpr const char* kForms =
      "an RFC 3339 time such as 2026-11-30T09:00:00Z or 2026-11-30T18:00:00+09:00, or a date "
      "such as 2026-11-30 (midnight UTC)";
  std::optional<core::WallTime> from, to;
  if (since) {
    from = parse_report_time(*since);
    if (!from) {
      std::fprintf(err, "%s: --since \"%s\" is not a time: give %s\n", kWho, since->c_str(),
                   kForms);
      return 2;
    }
  }
  if (until) {
    to = parse_report_time(*until);
    if (!to) {
      std::fprintf(err, "%s: --until \"%s\" is not a time: give %s\n", kWho, until->c_str(),
                   kForms);
      return 2;
    }
  }
  if (from && to && *from >= *to) {
    std::fprintf(err, "%s: --since %s is not before --until %s: the window would be empty\n", kWho,
                 since->c_str(), until->c_str());
    return 2;
  }

  const bool from_stdin = log_path == "-";
  std::FILE* in = from_stdin ? stdin : std::fopen(log_path.c_str(), "r");
  if (in == nullptr) {
    std::fprintf(err, "%s: cannot read the log %s: %s\n", kWho, log_path.c_str(),
                 std::strerror(errno));
    return 1;
  }
  StalePriceReport report(from, to);
  char* buf = nullptr;
  std::size_t cap = 0;
  ssize_t n;
  errno = 0;
  while ((n = ::getline(&buf, &cap, in)) >= 0) {
    report.add_line(std::string_view(buf, static_cast<std::size_t>(n)));
  }
  const int read_errno = errno;
  const bool failed = std::ferror(in) != 0;
  std::free(buf);
  if (!from_stdin) std::fclose(in);
  if (failed) {
    std::fprintf(err, "%s: cannot read the log %s: %s\n", kWho,
                 from_stdin ? "(standard input)" : log_path.c_str(),
                 std::strerror(read_errno != 0 ? read_errno : EIO));
    return 1;
  }

  const std::string csv = report.csv();
  if (std::fwrite(csv.data(), 1, csv.size(), out) != csv.size() || std::fflush(out) != 0) {
    std::fprintf(err, "%s: cannot write the report: %s\n", kWho, std::strerror(errno));
    return 1;
  }
  const StalePriceSummary s = report.summary();
  if (s.without_prices > 0) {
    std::fprintf(err,
                 "%s: %zu request line(s) in the window carry no \"prices\" (logged before the "
                 "field existed): their replies cannot be judged\n",
                 kWho, s.without_prices);
  }
  return 0;
}

}  // namespace ma::observe
