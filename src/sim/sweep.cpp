#include "sim/sweep.hpp"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>
#include <type_traits>

#include "core/toml.hpp"
#include "sim/report.hpp"

namespace ma::sim {

namespace json = boost::json;

namespace {

constexpr const char* kCode = "invalid_sweep";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> whole(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> number(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

// One item of a list: a whole number, else a number, else true/false, else a string.
SweepValue typed(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"')
    return std::string(s.substr(1, s.size() - 2));
  if (auto i = whole(s)) return *i;
  if (auto d = number(s)) return *d;
  if (s == "true") return true;
  if (s == "false") return false;
  return std::string(s);
}

// The shortest text that reads back as `v` to 12 significant digits: 0.1 * 3 is 0.3.
double tidy(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return std::strtod(buf, nullptr);
}

std::vector<std::string> split_key(std::string_view key) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = key.find('.', start);
    out.emplace_back(key.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

bool bare_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

core::Result<std::vector<SweepValue>> parse_range(std::string_view key, std::string_view text) {
  const auto fail = [&](const std::string& why) {
    return core::fail(kCode, "--sweep " + std::string(key) + "=" + std::string(text) + ": " + why);
  };
  const std::size_t dots = text.find("..");
  const std::string_view a_text = trim(text.substr(0, dots));
  std::string_view b_text = trim(text.substr(dots + 2));
  std::optional<std::string_view> step_text;
  if (const std::size_t colon = b_text.find(':'); colon != std::string_view::npos) {
    step_text = trim(b_text.substr(colon + 1));
    b_text = trim(b_text.substr(0, colon));
  }
  const auto ai = whole(a_text), bi = whole(b_text);
  const auto si = step_text ? whole(*step_text) : std::optional<std::int64_t>(1);
  std::vector<SweepValue> out;
  if (ai && bi && si) {
    if (*si <= 0) return fail("the step must be above 0");
    if (*ai > *bi)
      return fail("the range is reversed (" + std::to_string(*ai) + " > " + std::to_string(*bi) +
                  ")");
    // b - a fits in 64 unsigned bits whatever the signs.
    const std::uint64_t n = (static_cast<std::uint64_t>(*bi) - static_cast<std::uint64_t>(*ai)) /
                                static_cast<std::uint64_t>(*si) +
                            1;
    if (n > kMaxSweepPoints)
      return fail(std::to_string(n) + " values; at most " + std::to_string(kMaxSweepPoints));
    for (std::uint64_t i = 0; i < n; ++i)
      out.emplace_back(static_cast<std::int64_t>(static_cast<std::uint64_t>(*ai) +
                                                 i * static_cast<std::uint64_t>(*si)));
    return out;
  }
  if (!step_text) {
    if (number(a_text) && number(b_text))
      return fail("a range without a step is of whole numbers (give a step: a..b:step)");
    return fail("a range is a..b or a..b:step, of numbers");
  }
  const auto a = number(a_text), b = number(b_text), step = number(*step_text);
  if (!a || !b || !step) return fail("a range is a..b or a..b:step, of numbers");
  if (*step <= 0) return fail("the step must be above 0");
  if (*a > *b) return fail("the range is reversed");
  const double k = (*b - *a) / *step;
  // b is included when the steps reach it within rounding (0.1..0.3:0.1).
  const double n = std::floor(k + 1e-9 * std::max(1.0, k)) + 1;
  if (!(n <= static_cast<double>(kMaxSweepPoints)))
    return fail("more than " + std::to_string(kMaxSweepPoints) + " values");
  for (int i = 0; i < static_cast<int>(n); ++i) out.emplace_back(tidy(*a + i * *step));
  return out;
}

// ---- Setting a value in the scenario's TOML.

void put(toml::table& t, const std::string& key, const SweepValue& v) {
  std::visit([&](const auto& x) { t.insert_or_assign(key, x); }, v);
}

// Sets `v` at `path` under `root`, creating tables on the way; an element of a list of
// tables is named by its index. The error names `key` (the sweep's).
core::Status set_path(toml::table& root, const std::vector<std::string>& path, const SweepValue& v,
                      const std::string& key) {
  toml::table* t = &root;
  std::string at;  // the path so far, for messages
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    const std::string& seg = path[i];
    at += (at.empty() ? "" : ".") + seg;
    toml::node* n = t->get(seg);
    if (n == nullptr) {
      t = t->insert(seg, toml::table{}).first->second.as_table();
      continue;
    }
    if (toml::table* sub = n->as_table()) {
      t = sub;
      continue;
    }
    if (toml::array* arr = n->as_array()) {
      // A list of tables: the next segment is an index.
      const auto idx = whole(path[i + 1]);
      if (i + 2 >= path.size() || !idx || *idx < 0 ||
          static_cast<std::size_t>(*idx) >= arr->size() ||
          !arr->get(static_cast<std::size_t>(*idx))->is_table()) {
        return core::fail(kCode, "--sweep " + key + ": " + at + " is a list of " +
                                     std::to_string(arr->size()) +
                                     " entries; name one by its index and a key in it, e.g. " + at +
                                     ".0." + path.back());
      }
      ++i;
      at += "." + path[i];
      t = arr->get(static_cast<std::size_t>(*idx))->as_table();
      continue;
    }
    return core::fail(kCode, "--sweep " + key + ": " + at + " is a value, not a table");
  }
  put(*t, path.back(), v);
  return core::Ok{};
}

std::string to_text(const toml::table& t) {
  std::ostringstream out;
  out << toml::toml_formatter{t};
  return out.str();
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Whether the scenario parser takes `first` as a top-level key: the scenario has it, or
// setting it there is not refused as an unknown key (it may be refused for its value, which
// then is the scenario's message for this key).
bool top_level(const toml::table& base, const std::vector<std::string>& path,
               const SweepValue& sample, const std::string& key, const std::string& where) {
  if (base.contains(path.front())) return true;
  toml::table t = base;
  if (!set_path(t, path, sample, key).ok()) return true;
  auto s = parse_scenario(to_text(t), where);
  return s.ok() || !ends_with(s.error().message, "unknown key " + path.front());
}

std::string point_text(const std::string& variant, const std::vector<SweepSetting>& settings,
                       bool name_variant) {
  std::string out = name_variant ? "variant " + variant : "";
  for (const auto& s : settings) {
    out += (out.empty() ? "" : ", ") + s.key + "=" + sweep_value_text(s.value);
  }
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string pct(double v) { return fmt("%.2f%%", 100 * v); }

struct Column {
  const char* header;
  std::string (*cell)(const Summary&);
};

// The figures of each row, as sim::impact_table writes them.
const Column kColumns[] = {
    {"error rate", [](const Summary& s) { return pct(s.user_error_rate); }},
    {"p99 (s)", [](const Summary& s) { return fmt("%.2f", s.p99_latency_s); }},
    {"retry amp", [](const Summary& s) { return fmt("%.2f", s.retry_amplification); }},
    {"2nd throttle", [](const Summary& s) { return pct(s.secondary_throttle_rate); }},
    {"cache serve", [](const Summary& s) { return pct(s.cache_serve_rate); }},
    {"retry load", [](const Summary& s) { return "+" + pct(s.user_retry_load); }},
    {"stale prices", [](const Summary& s) { return std::to_string(s.stale_price_serves); }},
    {"cost (USD)", [](const Summary& s) { return fmt("$%.4f", s.cost_usd); }},
};

// "3/4": the point's figures within their ranges, of those stated; "-" when none is.
std::string checks_text(const RunResult& r) {
  const std::vector<FigureCheck> checks = check_figures(r);
  if (checks.empty()) return "-";
  const auto within =
      std::count_if(checks.begin(), checks.end(), [](const FigureCheck& c) { return c.within; });
  return std::to_string(within) + "/" + std::to_string(checks.size());
}

json::value to_json_value(const SweepValue& v) {
  return std::visit(
      [](const auto& x) -> json::value {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::string>) {
          return json::string(x);
        } else {
          return x;
        }
      },
      v);
}

}  // namespace

std::string sweep_value_text(const SweepValue& v) {
  struct {
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buf[64];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
      std::string s(buf, p);
      // Still a number when read back, not a whole one: 2 -> 2.0.
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const {
      // Quoted when it would read back as another type.
      const SweepValue back = typed(s);
      return !s.empty() && std::holds_alternative<std::string>(back) &&
                     s.find(',') == std::string::npos && s.find("..") == std::string::npos &&
                     s == std::get<std::string>(back)
                 ? s
                 : "\"" + s + "\"";
    }
  } visitor;
  return std::visit(visitor, v);
}

core::Result<SweepAxis> parse_sweep_arg(std::string_view arg) {
  const std::size_t eq = arg.find('=');
  if (eq == std::string_view::npos)
    return core::fail(kCode, "--sweep " + std::string(arg) +
                                 ": give key=values (traffic.rate=10,20 or tasks=4..8)");
  SweepAxis axis;
  axis.key = std::string(trim(arg.substr(0, eq)));
  const std::string_view values = trim(arg.substr(eq + 1));
  const auto fail = [&](const std::string& why) {
    return core::fail(kCode, "--sweep " + std::string(arg) + ": " + why);
  };
  if (axis.key.empty()) return fail("no key");
  for (const std::string& seg : split_key(axis.key)) {
    if (seg.empty()) return fail("an empty segment in the key " + axis.key);
    if (!std::all_of(seg.begin(), seg.end(), bare_key_char))
      return fail("a key is dotted names of letters, digits, _ and - (traffic.rate)");
  }
  if (values.empty()) return fail("no values (a list x,y,z or a range a..b or a..b:step)");
  const bool quoted = values.size() >= 2 && values.front() == '"' && values.back() == '"' &&
                      values.find('"', 1) == values.size() - 1;
  if (quoted) {
    axis.values.push_back(typed(values));
    return axis;
  }
  if (values.find(',') == std::string_view::npos && values.find("..") != std::string_view::npos) {
    auto range = parse_range(axis.key, values);
    if (!range.ok()) return core::fail(std::move(range).error());
    axis.values = std::move(range).value();
    return axis;
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = values.find(',', start);
    const std::string_view item = trim(values.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (item.empty()) return fail("an empty value in the list");
    if (item.find("..") != std::string_view::npos && item.front() != '"')
      return fail("a list does not hold ranges (" + std::string(item) + ")");
    axis.values.push_back(typed(item));
    if (axis.values.size() > kMaxSweepPoints)
      return fail("more than " + std::to_string(kMaxSweepPoints) + " values");
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return axis;
}

core::Result<std::vector<SweepPlanPoint>> plan_sweep(std::string_view scenario_toml,
                                                     const std::string& where,
                                                     const std::vector<std::string>& variants,
                                                     const std::vector<SweepAxis>& axes) {
  toml::table base;
  try {
    base = toml::parse(scenario_toml, where);
  } catch (const toml::parse_error& e) {
    return core::fail("invalid_scenario", where + ": " + std::string(e.description()));
  }
  auto as_is = parse_scenario(scenario_toml, where);
  if (!as_is.ok()) return core::fail(std::move(as_is).error());
  for (const std::string& v : variants) {
    if (!as_is->variants.contains(v)) {
      std::string names;
      for (const auto& [name, _] : as_is->variants) names += (names.empty() ? "" : ", ") + name;
      return core::fail(kCode, "no variant \"" + v + "\" (" + names + ")");
    }
  }
  // Each axis: its path in the TOML, relative to the root or to the variant's table.
  std::size_t grid = 1;
  std::vector<std::vector<std::string>> paths;
  std::vector<bool> on_root;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const SweepAxis& a = axes[i];
    if (a.values.empty()) return core::fail(kCode, "--sweep " + a.key + ": no values");
    for (std::size_t j = 0; j < i; ++j) {
      if (axes[j].key == a.key) return core::fail(kCode, "--sweep " + a.key + " is given twice");
    }
    paths.push_back(split_key(a.key));
    if (paths.back().front() == "variant") {
      return core::fail(kCode, "--sweep " + a.key +
                                   ": name a variant setting without variant.<name>. (the "
                                   "variant swept is --variant's)");
    }
    on_root.push_back(top_level(base, paths.back(), a.values.front(), a.key, where));
    grid = grid > kMaxSweepPoints ? grid : grid * a.values.size();
  }
  if (grid > kMaxSweepPoints) {
    std::string dims;
    for (const auto& a : axes)
      dims += (dims.empty() ? "" : " x ") + std::to_string(a.values.size());
    return core::fail(kCode, "the sweep's grid has more than " + std::to_string(kMaxSweepPoints) +
                                 " points (" + dims + ")");
  }

  std::vector<SweepPlanPoint> plan;
  plan.reserve(grid * variants.size());
  std::vector<std::size_t> at(axes.size(), 0);
  for (const std::string& variant : variants) {
    for (std::size_t n = 0; n < grid; ++n) {
      // The n-th point: the last axis varies fastest.
      std::size_t rest = n;
      for (std::size_t i = axes.size(); i-- > 0;) {
        at[i] = rest % axes[i].values.size();
        rest /= axes[i].values.size();
      }
      SweepPlanPoint p;
      p.variant = variant;
      toml::table t = base;
      for (std::size_t i = 0; i < axes.size(); ++i) {
        std::vector<std::string> path = paths[i];
        if (!on_root[i]) path.insert(path.begin(), {"variant", variant});
        const SweepValue& v = axes[i].values[at[i]];
        if (auto st = set_path(t, path, v, axes[i].key); !st.ok())
          return core::fail(std::move(st).error());
        std::string joined;
        for (const auto& seg : path) joined += (joined.empty() ? "" : ".") + seg;
        p.settings.push_back({axes[i].key, std::move(joined), v});
      }
      auto s = parse_scenario(to_text(t), where);
      if (!s.ok()) {
        core::Error e = std::move(s).error();
        e.message += " (at the sweep's point " + point_text(variant, p.settings, true) + ")";
        return core::fail(std::move(e));
      }
      p.scenario = std::move(s).value();
      plan.push_back(std::move(p));
    }
  }
  return plan;
}

core::Result<std::vector<SweepPoint>> run_sweep(const std::vector<SweepPlanPoint>& plan,
                                                const SweepOptions& options) {
  const std::size_t n = plan.size();
  std::vector<std::optional<core::Result<RunResult>>> results(n);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex progress_mu;
  std::size_t done = 0;
  RunOptions ro = options.run;
  ro.progress = nullptr;  // the runs' own progress would interleave
  auto worker = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      // Points are claimed in order: every point before a failed one has been claimed, so the
      // first failure in the plan's order is among the points that ran.
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        results[i] = run(plan[i].scenario, plan[i].variant, ro);
      } catch (const std::exception& e) {
        results[i] = core::fail("internal", std::string("the run threw: ") + e.what());
      }
      if (!results[i]->ok()) stop.store(true);
      if (options.progress) {
        std::lock_guard lock(progress_mu);
        options.progress(++done, n);
      }
    }
  };
  unsigned threads = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  threads = static_cast<unsigned>(std::clamp<std::size_t>(threads, 1, std::max<std::size_t>(n, 1)));
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::jthread> pool;
    try {
      for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
    } catch (const std::system_error&) {
      // No more threads to be had: the ones started share the points (or this one does).
      if (pool.empty()) worker();
    }
  }
  std::vector<SweepPoint> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!results[i]) continue;  // not started after a failure
    if (!results[i]->ok()) {
      core::Error e = std::move(*results[i]).error();
      e.message +=
          " (at the sweep's point " + point_text(plan[i].variant, plan[i].settings, true) + ")";
      return core::fail(std::move(e));
    }
    out.push_back({plan[i].variant, plan[i].settings, std::move(*results[i]).value()});
  }
  return out;
}

core::Result<std::vector<SweepPoint>> sweep(std::string_view scenario_toml,
                                            const std::string& where,
                                            const std::vector<std::string>& variants,
                                            const std::vector<SweepAxis>& axes,
                                            const SweepOptions& options) {
  auto plan = plan_sweep(scenario_toml, where, variants, axes);
  if (!plan.ok()) return core::fail(std::move(plan).error());
  return run_sweep(*plan, options);
}

std::string sweep_table(const std::vector<SweepPoint>& points) {
  if (points.empty()) return "";
  const RunResult& first = points.front().result;
  bool same_run = true, many_variants = false;
  for (const auto& p : points) {
    const RunResult& r = p.result;
    same_run = same_run && r.seed == first.seed && r.incident_start_s == first.incident_start_s &&
               r.incident_end_s == first.incident_end_s && r.duration_s == first.duration_s;
    many_variants = many_variants || p.variant != points.front().variant;
  }
  std::string out = first.scenario;
  if (same_run) {
    out += "  (seed " + std::to_string(first.seed) + ", incident window " +
           fmt("%.0f", first.incident_start_s) + "-" + fmt("%.0f", first.incident_end_s) +
           " s of " + fmt("%.0f", first.duration_s) + " s)";
  }
  out += "\nduring the incident, " + std::to_string(points.size()) + " points" +
         (many_variants ? "" : ", variant " + points.front().variant) + "\n";

  // The cells: the settings (left-aligned), then the figures (right-aligned).
  std::vector<std::string> header;
  std::vector<bool> left;
  if (many_variants) {
    header.emplace_back("variant");
    left.push_back(true);
  }
  for (const auto& s : points.front().settings) {
    header.push_back(s.key);
    left.push_back(true);
  }
  for (const Column& c : kColumns) {
    header.emplace_back(c.header);
    left.push_back(false);
  }
  // When the scenario states the seed's figures or targets: how many each point meets (the
  // incident variant against the seed's, another against the targets).
  const bool checked = std::any_of(points.begin(), points.end(), [](const SweepPoint& p) {
    return !check_figures(p.result).empty();
  });
  if (checked) {
    header.emplace_back("in range");
    left.push_back(false);
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : points) {
    std::vector<std::string> row;
    if (many_variants) row.push_back(p.variant);
    for (const auto& s : p.settings) row.push_back(sweep_value_text(s.value));
    for (const Column& c : kColumns) row.push_back(c.cell(p.result.phases[1]));
    if (checked) row.push_back(checks_text(p.result));
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) {
    width[i] = header[i].size();
    for (const auto& row : rows) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(width[i] - cells[i].size(), ' ');
      l += (i == 0 ? "" : " | ") + (left[i] ? cells[i] + pad : pad + cells[i]);
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    return l + "\n";
  };
  out += line(header);
  std::size_t total = 0;
  for (std::size_t w : width) total += w;
  out += std::string(total + 3 * (width.size() - 1), '-') + "\n";
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string sweep_json(const SweepPoint& point) {
  const RunResult& r = point.result;
  const Summary& d = r.phases[1];
  json::object settings;
  for (const auto& s : point.settings) settings[s.key] = to_json_value(s.value);
  json::object o;
  o["scenario"] = r.scenario;
  o["variant"] = point.variant;
  o["seed"] = r.seed;
  o["settings"] = std::move(settings);
  o["during"] = json::object{{"messages", d.messages},
                             {"user_error_rate", d.user_error_rate},
                             {"p99_latency_s", d.p99_latency_s},
                             {"retry_amplification", d.retry_amplification},
                             {"secondary_throttle_rate", d.secondary_throttle_rate},
                             {"cache_serve_rate", d.cache_serve_rate},
                             {"user_retry_load", d.user_retry_load},
                             {"stale_price_serves", d.stale_price_serves},
                             {"cost_usd", d.cost_usd}};
  o["run"] = json::parse(to_json(r, /*with_wall=*/false));
  return json::serialize(o);
}

}  // namespace ma::sim
