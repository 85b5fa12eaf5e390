#include "sim/report.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>

namespace ma::sim {

namespace json = boost::json;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string pct(double v) { return fmt("%.2f%%", 100 * v); }
std::string count(std::uint64_t v) { return std::to_string(v); }

enum class Fmt { kCount, kPct, kPlusPct, kSeconds, kRatio, kNumber1 };

std::string format(Fmt f, double v) {
  switch (f) {
    case Fmt::kCount:
      return fmt("%.0f", v);
    case Fmt::kPct:
      return pct(v);
    case Fmt::kPlusPct:
      return "+" + pct(v);
    case Fmt::kSeconds:
    case Fmt::kRatio:
      return fmt("%.2f", v);
    case Fmt::kNumber1:
      return fmt("%.1f", v);
  }
  return "";
}

// A row of the impact table: a figure by name (sim::figure), or a cell of its own.
struct Row {
  const char* label;
  const char* figure;  // null: `cell`
  Fmt format = Fmt::kCount;
  std::string (*cell)(const Summary&) = nullptr;
  bool of_run = false;  // a figure of the whole run (impact_s, ...): shown under "during"
};

const Row kRows[] = {
    {"messages (incl. re-sends)", nullptr, Fmt::kCount,
     [](const Summary& s) { return count(s.messages); }},
    {"user-visible error rate", "user_error_rate", Fmt::kPct},
    {"messages affected", nullptr, Fmt::kCount,
     [](const Summary& s) { return count(s.user_errors); }},
    {"p99 latency (s)", "p99_latency_s", Fmt::kSeconds},
    {"impact (s)", "impact_s", Fmt::kCount, nullptr, true},
    {"recovery (s)", "recovery_s", Fmt::kCount, nullptr, true},
    {"model availability", "model_availability", Fmt::kPct},
    {"primary availability", "primary_availability", Fmt::kPct},
    {"secondary availability", "secondary_availability", Fmt::kPct},
    {"cache serve rate", "cache_serve_rate", Fmt::kPct},
    {"retry amplification", "retry_amplification", Fmt::kRatio},
    {"secondary throttle rate", "secondary_throttle_rate", Fmt::kPct},
    {"legit users told \"too fast\"", "legit_too_fast", Fmt::kCount},
    {"first-time users \"too fast\"", "first_time_too_fast", Fmt::kCount},
    {"peak \"too fast\" share (10 s)", "peak_too_fast_share", Fmt::kPct, nullptr, true},
    {"stale prices before the guard", "stale_prices_pre_guard", Fmt::kCount},
    {"stale prices served", "stale_price_serves", Fmt::kCount},
    {"customers quoted a stale price", "stale_price_customers", Fmt::kCount},
    {"error traces kept", nullptr, Fmt::kCount,
     [](const Summary& s) { return count(s.error_traces) + "/" + count(s.error_requests); }},
    {"error requests per hour", "error_requests_per_hour", Fmt::kCount},
    {"error traces kept per hour", "error_traces_kept_per_hour", Fmt::kNumber1},
    {"new-format errors per hour", "unknown_error_requests_per_hour", Fmt::kCount},
    {"of those, traces kept / hour", "unknown_error_traces_kept_per_hour", Fmt::kNumber1},
    {"raw errors shown to users", "raw_errors_shown", Fmt::kCount},
    {"user retry load", "user_retry_load", Fmt::kPlusPct},
    {"users who re-sent", "users_retrying", Fmt::kPct},
    {"support contacts", "support_contacts", Fmt::kCount},
    {"model cost (USD)", nullptr, Fmt::kCount,
     [](const Summary& s) { return fmt("$%.4f", s.cost_usd); }},
    {"tokens in / out (k)", nullptr, Fmt::kCount,
     [](const Summary& s) {
       return fmt("%.0f", static_cast<double>(s.input_tokens) / 1000) + "/" +
              fmt("%.0f", static_cast<double>(s.output_tokens) / 1000);
     }},
    {"duration (s)", nullptr, Fmt::kCount,
     [](const Summary& s) { return fmt("%.0f", s.duration_s); }},
};

const Row* row_of(std::string_view figure) {
  for (const Row& r : kRows) {
    if (r.figure != nullptr && r.figure == figure) return &r;
  }
  return nullptr;
}

Fmt format_of(std::string_view figure) {
  const Row* r = row_of(figure);
  return r != nullptr ? r->format : Fmt::kNumber1;
}

const SeedFigure* find_figure(const std::vector<SeedFigure>& list, std::string_view name) {
  for (const SeedFigure& f : list) {
    if (f.figure == name) return &f;
  }
  return nullptr;
}

// "15.00% (8.00%..25.00%)", ">= 10.00", "<= 1.00%".
std::string range_text(const SeedFigure& f, Fmt how) {
  const bool lo = f.min > -1e300, hi = f.max < 1e300;
  if (lo && hi) return format(how, f.min) + ".." + format(how, f.max);
  if (lo) return ">= " + format(how, f.min);
  if (hi) return "<= " + format(how, f.max);
  return "any";
}

std::string pad(const std::string& s, std::size_t w, bool left = false) {
  // Pads by display columns for ASCII; the table's cells are ASCII.
  if (s.size() >= w) return s;
  return left ? s + std::string(w - s.size(), ' ') : std::string(w - s.size(), ' ') + s;
}

}  // namespace

std::string impact_table(const std::vector<RunResult>& runs) {
  if (runs.empty()) return "";
  constexpr std::size_t kLabel = 30, kCell = 12, kSeed = 12;
  const RunResult& first = runs.front();
  std::string out = first.scenario + "  (seed " + std::to_string(first.seed) +
                    ", incident window " + fmt("%.0f", first.incident_start_s) + "-" +
                    fmt("%.0f", first.incident_end_s) + " s of " + fmt("%.0f", first.duration_s) +
                    " s)\n";
  out += pad("", kLabel, true) + " | " + pad("seed", kSeed);
  for (const auto& r : runs) out += " | " + pad(r.variant, kCell * 3 + 2, true);
  out += "\n" + pad("", kLabel, true) + " | " + pad("during", kSeed);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    out += " | ";
    for (const char* p : {"normal", "during", "recovery"}) out += pad(p, kCell) + " ";
    out.pop_back();
  }
  out += "\n" + std::string(kLabel + kSeed + 3 + runs.size() * (kCell * 3 + 5), '-') + "\n";
  for (const Row& row : kRows) {
    out += pad(row.label, kLabel, true) + " | ";
    const SeedFigure* seed =
        row.figure != nullptr ? find_figure(first.seed_figures, row.figure) : nullptr;
    out += pad(seed == nullptr ? ""
               : seed->value   ? format(row.format, *seed->value)
                               : "reported",
               kSeed);
    for (const auto& r : runs) {
      out += " | ";
      for (int ph = 0; ph < 3; ++ph) {
        std::string cell;
        if (row.cell != nullptr) {
          cell = row.cell(r.phases[static_cast<std::size_t>(ph)]);
        } else if (!row.of_run || ph == 1) {
          cell = format(row.format, figure(r, row.figure, ph).value_or(0));
        } else {
          cell = "-";
        }
        out += pad(cell, kCell) + " ";
      }
      out.pop_back();
    }
    out += "\n";
  }
  // What the storm cost: the whole run per variant, and each lane's part.
  for (const auto& r : runs) {
    out += pad("cost of the run, " + r.variant, kLabel, true) + " | " +
           fmt("$%.4f", r.total.cost_usd) + " (" + count(r.total.input_tokens) + " input + " +
           count(r.total.output_tokens) + " output tokens)";
    for (const auto& l : r.lanes) out += "; " + l.model + " " + fmt("$%.4f", l.cost_usd);
    out += "\n";
  }
  // The checks: the incident variant against the seed's figures, the fixed one against
  // its targets (during the incident).
  for (const auto& r : runs) {
    const std::vector<FigureCheck> checks = check_figures(r);
    if (checks.empty()) continue;
    const auto within =
        std::count_if(checks.begin(), checks.end(), [](const FigureCheck& c) { return c.within; });
    out += r.variant == "incident" ? "\nthe seed's incident, reproduced (incident, during): "
                                   : "\ntargets (" + r.variant + ", during): ";
    out += std::to_string(within) + " of " + std::to_string(checks.size()) + " within range\n";
    for (const FigureCheck& c : checks) {
      const Fmt how = format_of(c.spec.figure);
      const Row* row = row_of(c.spec.figure);
      out += "  " + pad(row != nullptr ? row->label : c.spec.figure, kLabel, true) +
             pad(c.spec.value ? "seed " + format(how, *c.spec.value) : "", kSeed + 5) +
             pad(range_text(c.spec, how), 22) + pad(format(how, c.got), kCell) +
             (c.within ? "  ok" : "  OUT OF RANGE") +
             (c.spec.note.empty() ? "" : "  (" + c.spec.note + ")") + "\n";
    }
  }
  return out;
}

std::string to_json(const RunResult& r, bool with_wall, bool with_cost) {
  const Summary& t = r.total;
  json::object o;
  o["scenario"] = r.scenario;
  o["variant"] = r.variant;
  o["seed"] = r.seed;
  o["messages"] = t.messages;
  o["user_error_rate"] = t.user_error_rate;
  o["p99_latency_s"] = t.p99_latency_s;
  o["retry_amplification"] = t.retry_amplification;
  o["secondary_throttle_rate"] = t.secondary_throttle_rate;
  o["legit_too_fast"] = t.legit_too_fast;
  o["stale_price_serves"] = t.stale_price_serves;
  o["stale_prices_pre_guard"] = t.stale_prices_pre_guard;
  o["error_traces_kept_ratio"] = t.error_traces_kept_ratio;
  o["user_retry_load"] = t.user_retry_load;
  o["events"] = r.events;
  o["model_availability"] = t.model_availability;
  o["cache_serve_rate"] = t.cache_serve_rate;
  o["impact_s"] = r.impact_s;
  o["recovery_s"] = r.recovery_s;
  o["peak_too_fast_share"] = r.peak_too_fast_share;
  // The seed's figures beside this run's, during the incident, and the targets' checks.
  auto checks = [&r](const std::vector<SeedFigure>& list, bool seed) {
    json::array a;
    for (const SeedFigure& f : list) {
      const std::optional<double> got = figure(r, f.figure);
      json::object c{{"figure", f.figure}, {"during", got.value_or(0)}, {"within", f.holds(got)}};
      if (seed && f.value) c["seed"] = *f.value;
      if (f.min > -1e300) c["min"] = f.min;
      if (f.max < 1e300) c["max"] = f.max;
      if (!f.note.empty()) c["note"] = f.note;
      a.push_back(std::move(c));
    }
    return a;
  };
  o["seed_figures"] = checks(r.seed_figures, true);
  o["targets"] = checks(r.targets, false);
  json::array phases;
  const char* names[] = {"normal", "during", "recovery"};
  for (int i = 0; i < 3; ++i) {
    const Summary& p = r.phases[i];
    phases.push_back(json::object{{"phase", names[i]},
                                  {"duration_s", p.duration_s},
                                  {"messages", p.messages},
                                  {"user_error_rate", p.user_error_rate},
                                  {"p99_latency_s", p.p99_latency_s},
                                  {"retry_amplification", p.retry_amplification},
                                  {"secondary_throttle_rate", p.secondary_throttle_rate},
                                  {"legit_too_fast", p.legit_too_fast},
                                  {"stale_price_serves", p.stale_price_serves},
                                  {"stale_prices_pre_guard", p.stale_prices_pre_guard},
                                  {"error_traces_kept_ratio", p.error_traces_kept_ratio},
                                  {"user_retry_load", p.user_retry_load}});
    json::object& ph = phases.back().as_object();
    for (std::string_view name : kFigureNames) {
      if (name == "impact_s" || name == "recovery_s" || name == "peak_too_fast_share") continue;
      if (!ph.contains(name)) ph[name] = figure(r, name, i).value_or(0);
    }
    if (with_cost) {
      json::object& ph = phases.back().as_object();
      ph["cost_usd"] = p.cost_usd;
      ph["input_tokens"] = p.input_tokens;
      ph["output_tokens"] = p.output_tokens;
    }
  }
  o["phases"] = std::move(phases);
  if (with_cost) {
    o["cost_usd"] = t.cost_usd;
    o["input_tokens"] = t.input_tokens;
    o["output_tokens"] = t.output_tokens;
    json::array lanes;
    for (const auto& l : r.lanes) {
      lanes.push_back(json::object{{"model", l.model},
                                   {"calls", l.calls},
                                   {"hedges", l.hedges},
                                   {"skips", l.skips},
                                   {"input_tokens", l.input_tokens},
                                   {"output_tokens", l.output_tokens},
                                   {"cost_usd", l.cost_usd}});
    }
    o["lanes"] = std::move(lanes);
  }
  if (with_wall) o["wall_s"] = std::round(r.wall_s * 1000) / 1000;
  return json::serialize(o);
}

std::string timeline_csv(const RunResult& r) {
  std::string out =
      "t_s,offered,resent,abusive,primary,secondary,cache,static,degraded,too_fast,user_errors,"
      "sonnet_calls,sonnet_ok,sonnet_throttled,haiku_calls,haiku_ok,haiku_throttled,"
      "stale_prices,stale_pre_guard,error_requests,error_traces,p50_s,p99_s\n";
  for (std::size_t i = 0; i < r.bins.size(); ++i) {
    const Bin& b = r.bins[i];
    out += fmt("%g", static_cast<double>(i) * r.bin_s);
    // clang-format off
    for (std::uint32_t v :
         {b.offered, b.resent, b.abusive, b.replies[0], b.replies[1], b.replies[2], b.replies[3],
          b.replies[4], b.too_fast, b.user_errors, b.model_calls[0], b.model_ok[0],
          b.model_throttled[0], b.model_calls[1], b.model_ok[1], b.model_throttled[1],
          b.stale_prices, b.stale_pre_guard, b.error_requests, b.error_traces}) {
      // clang-format on
      out += ',';
      out += std::to_string(v);
    }
    out += fmt(",%.3f", b.latency.quantile_s(0.5));
    out += fmt(",%.3f", b.latency.quantile_s(0.99));
    out += '\n';
  }
  return out;
}

namespace {

std::string escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

struct Series {
  std::string name, color;
  std::vector<double> y;
};

// A line chart as inline SVG: the incident window shaded, a y axis with its maximum.
std::string chart(const std::string& title, const RunResult& r, const std::vector<Series>& lines,
                  const char* unit) {
  constexpr double W = 560, H = 180, L = 50, T = 20, B = 24;
  double ymax = 0;
  for (const auto& s : lines)
    for (double v : s.y) ymax = std::max(ymax, v);
  if (ymax <= 0) ymax = 1;
  const double n = static_cast<double>(std::max<std::size_t>(1, r.bins.size()));
  auto X = [&](double i) { return L + (W - L - 10) * i / n; };
  auto Y = [&](double v) { return T + (H - T - B) * (1 - v / ymax); };
  std::string svg = "<svg viewBox=\"0 0 " + fmt("%.0f", W) + " " + fmt("%.0f", H) +
                    "\" width=\"560\" height=\"180\" role=\"img\"><title>" + escape(title) +
                    "</title>";
  const double a = X(r.incident_start_s / r.bin_s), b = X(r.incident_end_s / r.bin_s);
  svg += "<rect x=\"" + fmt("%.1f", a) + "\" y=\"" + fmt("%.0f", T) + "\" width=\"" +
         fmt("%.1f", std::max(0.0, b - a)) + "\" height=\"" + fmt("%.0f", H - T - B) +
         "\" fill=\"#fde8e8\"/>";
  svg += "<text x=\"4\" y=\"14\" font-size=\"12\">" + escape(title) + "</text>";
  svg += "<text x=\"4\" y=\"" + fmt("%.0f", T + 10) + "\" font-size=\"10\">" + fmt("%g", ymax) +
         " " + unit + "</text>";
  svg += "<text x=\"" + fmt("%.0f", W - 60) + "\" y=\"" + fmt("%.0f", H - 6) +
         "\" font-size=\"10\">" + fmt("%.0f", r.duration_s) + " s</text>";
  svg += "<line x1=\"" + fmt("%.0f", L) + "\" y1=\"" + fmt("%.0f", H - B) + "\" x2=\"" +
         fmt("%.0f", W - 10) + "\" y2=\"" + fmt("%.0f", H - B) + "\" stroke=\"#999\"/>";
  double lx = L;
  for (const auto& s : lines) {
    std::string pts;
    // At most ~600 points per line: buckets take their maximum.
    const std::size_t step = std::max<std::size_t>(1, s.y.size() / 600);
    for (std::size_t i = 0; i < s.y.size(); i += step) {
      double v = 0;
      for (std::size_t j = i; j < std::min(s.y.size(), i + step); ++j) v = std::max(v, s.y[j]);
      pts += fmt("%.1f,", X(static_cast<double>(i))) + fmt("%.1f ", Y(v));
    }
    svg += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"1.2\" points=\"" +
           pts + "\"/>";
    svg += "<text x=\"" + fmt("%.0f", lx + 60) + "\" y=\"14\" font-size=\"10\" fill=\"" + s.color +
           "\">" + escape(s.name) + "</text>";
    lx += 90;
  }
  return svg + "</svg>";
}

std::vector<double> per_s(const RunResult& r, std::uint32_t (*f)(const Bin&)) {
  std::vector<double> v;
  v.reserve(r.bins.size());
  for (const Bin& b : r.bins) v.push_back(f(b) / r.bin_s);
  return v;
}

}  // namespace

std::string html_report(const Scenario& s, const std::vector<RunResult>& runs) {
  std::string h =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape(s.name) +
      " - MangaAssist incident simulator</title><style>body{font-family:sans-serif;margin:2em}"
      "pre{background:#f6f6f6;padding:1em;overflow:auto}pre.json{white-space:pre-wrap;"
      "word-break:break-all}svg{margin:0 1em 1em 0}td,th{padding:2px 8px;text-align:right}"
      "</style></head><body>";
  h += "<h1>" + escape(s.name) + "</h1><p>" + escape(s.title) + "</p><p>" + escape(s.description) +
       "</p>";
  h += "<h2>Impact</h2><pre>" + escape(impact_table(runs)) + "</pre>";
  // The seed's figures beside each variant's, during the incident.
  if (!runs.empty() && !runs.front().seed_figures.empty()) {
    h += "<h2>The seed's incident</h2><table><tr><th>figure</th><th>seed</th><th>range</th>";
    for (const auto& r : runs) h += "<th>" + escape(r.variant) + "</th>";
    h += "</tr>";
    for (const SeedFigure& f : runs.front().seed_figures) {
      const Fmt how = format_of(f.figure);
      const Row* row = row_of(f.figure);
      h += "<tr><td>" + escape(row != nullptr ? row->label : f.figure) + "</td><td>" +
           (f.value ? format(how, *f.value) : "reported") + "</td><td>" +
           escape(range_text(f, how)) + "</td>";
      for (const auto& r : runs)
        h += "<td>" + format(how, figure(r, f.figure).value_or(0)) + "</td>";
      h += "</tr>";
    }
    h += "</table>";
  }
  h += "<p>Shaded: the incident window. Rates are per second.</p><div class=\"runs\">";
  for (const auto& r : runs) {
    h += "<section><h2>" + escape(r.variant) + "</h2>";
    h += chart("messages/s", r,
               {{"offered", "#1f77b4", per_s(r, [](const Bin& b) { return b.offered; })},
                {"re-sent", "#ff7f0e", per_s(r, [](const Bin& b) { return b.resent; })},
                {"failed", "#d62728", per_s(r, [](const Bin& b) { return b.user_errors; })}},
               "/s");
    h += chart(
        "model calls/s", r,
        {{"sonnet", "#2ca02c", per_s(r, [](const Bin& b) { return b.model_calls[0]; })},
         {"haiku", "#9467bd", per_s(r, [](const Bin& b) { return b.model_calls[1]; })},
         {"throttled", "#d62728",
          per_s(r, [](const Bin& b) { return b.model_throttled[0] + b.model_throttled[1]; })}},
        "/s");
    std::vector<double> p99;
    for (const Bin& b : r.bins) p99.push_back(b.latency.quantile_s(0.99));
    h += chart("p99 latency", r, {{"p99", "#8c564b", p99}}, "s");
    h += chart(
        "replies by tier", r,
        {{"models", "#2ca02c", per_s(r, [](const Bin& b) { return b.replies[0] + b.replies[1]; })},
         {"cache+static", "#17becf",
          per_s(r, [](const Bin& b) { return b.replies[2] + b.replies[3]; })},
         {"degraded", "#d62728", per_s(r, [](const Bin& b) { return b.replies[4]; })}},
        "/s");
    h += "<pre class=\"json\">" + escape(to_json(r)) + "</pre></section>";
  }
  return h + "</div></body></html>\n";
}

}  // namespace ma::sim
