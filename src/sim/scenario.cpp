#include "sim/scenario.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/config_reader.hpp"
#include "core/text.hpp"
#include "core/toml.hpp"

namespace ma::sim {

namespace {

void read_model(core::TomlReader& t, ModelModel& m) {
  t.check_keys({"capacity_rps", "quota_rps", "latency_median_ms", "latency_p99_ms", "fault"});
  t.read("capacity_rps", m.capacity_rps);
  m.quota_rps = m.capacity_rps;  // unless stated: the quota is what the region gives
  t.read("quota_rps", m.quota_rps);
  t.read("latency_median_ms", m.latency_median_ms);
  t.read("latency_p99_ms", m.latency_p99_ms);
  for (core::TomlReader& f : t.tables("fault")) {
    f.check_keys({"start_s", "end_s", "kind", "value"});
    ModelFault mf;
    f.read("start_s", mf.start_s);
    f.read("end_s", mf.end_s);
    f.read("value", mf.value);
    if (!f.read_enum("kind", mf.kind,
                     {"outage", "throttle", "capacity", "unknown_format", "latency"}) &&
        !f.has("kind")) {
      f.fail(f.name("kind") + " must be outage, throttle, capacity, unknown_format or latency");
    }
    if (mf.end_s <= mf.start_s) f.fail(f.name("end_s") + " must be after start_s");
    m.faults.push_back(mf);
  }
}

void read_variant(core::TomlReader& t, Variant& v, const std::string& where) {
  // The settings are grouped; a flat key of the old form is named with its new place.
  static constexpr std::pair<std::string_view, std::string_view> kMoved[] = {
      {"jitter", "retry.jitter"},
      {"max_attempts", "retry.max_attempts"},
      {"retry_budget_per_minute", "retry.budget_per_minute"},
      {"breaker_wait_s", "breaker.wait_s"},
      {"stagger_max_s", "fallback.stagger_max_s"},
      {"hedge", "fallback.hedge"},
      {"static_global_rate", "limits.static_global_rate"},
      {"client_limiter", "limits.client_limiter"},
      {"client_quota", "limits.client_quota"},
      {"cache_first", "tiers.cache_first"},
      {"cache_ttl_s", "cache.ttl_s"},
      {"invalidation", "cache.invalidation"},
      {"disclaimers", "cache.disclaimers"},
      {"price_guard", "prices.guard"},
      {"sampling", "observe.sampling"},
      {"degradation", "messages.degradation"},
  };
  for (const auto& [old, now] : kMoved) {
    if (t.has(old)) {
      t.fail(where + ": variant." + v.name + "." + std::string(old) + " is now " +
             std::string(now) + " (variant settings are grouped: docs/simulator.md)");
    }
  }
  t.check_keys({"retry", "timeouts", "breaker", "fallback", "limits", "tiers", "cache", "prices",
                "observe", "messages"});
  if (auto r = t.table("retry")) {
    r->check_keys(
        {"max_attempts", "jitter", "base_ms", "cap_ms", "budget_per_minute", "timeouts_retried"});
    r->read_enum("jitter", v.jitter, std::span(resilience::kJitterNames));
    r->read("max_attempts", v.max_attempts);
    r->read("base_ms", v.retry_base_ms);
    r->read("cap_ms", v.retry_cap_ms);
    r->read("budget_per_minute", v.retry_budget_per_minute);
    r->read("timeouts_retried", v.timeouts_retried);
    if (v.max_attempts && (*v.max_attempts < 1 || *v.max_attempts > 20))
      r->fail(r->name("max_attempts") + " must be within 1..20");
    if ((v.retry_base_ms && *v.retry_base_ms <= 0) || (v.retry_cap_ms && *v.retry_cap_ms <= 0))
      r->fail(where + ": retry.base_ms and retry.cap_ms must be > 0");
  }
  if (auto r = t.table("timeouts")) {
    r->check_keys({"deadline_s", "attempt_s"});
    r->read("deadline_s", v.deadline_s);
    r->read("attempt_s", v.attempt_timeout_s);
    if ((v.deadline_s && *v.deadline_s <= 0) || (v.attempt_timeout_s && *v.attempt_timeout_s <= 0))
      r->fail(where + ": timeouts must be > 0 s");
  }
  if (auto r = t.table("breaker")) {
    r->check_keys({"wait_s", "minimum_calls", "failure_rate", "counts_throttles", "window_calls",
                   "window_s"});
    if (int n = 0; r->read("window_calls", n, 1, 10'000)) v.breaker_window_calls = n;
    if (int n = 0; r->read("window_s", n, 1, 3600)) v.breaker_window_s = n;
    if (v.breaker_window_calls && v.breaker_window_s)
      r->fail(where + ": breaker.window_calls and breaker.window_s exclude each other");
    r->read("counts_throttles", v.breaker_counts_throttles);
    r->read("wait_s", v.breaker_wait_s);
    r->read("minimum_calls", v.breaker_minimum_calls);
    r->read("failure_rate", v.breaker_failure_rate);
    if (v.breaker_minimum_calls && *v.breaker_minimum_calls < 1)
      r->fail(r->name("minimum_calls") + " must be >= 1");
    if (v.breaker_failure_rate && (*v.breaker_failure_rate <= 0 || *v.breaker_failure_rate > 100))
      r->fail(r->name("failure_rate") + " must be within (0, 100]");
  }
  if (auto r = t.table("fallback")) {
    r->check_keys({"stagger_max_s", "hedge"});
    r->read("stagger_max_s", v.stagger_max_s);
    r->read("hedge", v.hedge);
  }
  if (auto r = t.table("limits")) {
    r->check_keys({"static_global_rate", "client_limiter", "client_quota"});
    r->read("static_global_rate", v.static_global_rate);
    r->read("client_limiter", v.client_limiter);
    r->read("client_quota", v.client_quota);
  }
  if (auto r = t.table("tiers")) {
    r->check_keys({"cache_first", "static", "cache_only_when_open"});
    r->read("cache_first", v.cache_first);
    r->read("static", v.static_tier);
    r->read("cache_only_when_open", v.cache_only_when_open);
  }
  if (auto r = t.table("cache")) {
    r->check_keys({"ttl_s", "invalidation", "disclaimers"});
    r->read("ttl_s", v.cache_ttl_s);
    r->read("invalidation", v.invalidation);
    r->read("disclaimers", v.disclaimers);
  }
  if (auto r = t.table("prices")) {
    r->check_keys({"guard"});
    r->read("guard", v.price_guard);
  }
  if (auto r = t.table("observe")) {
    r->check_keys({"sampling"});
    r->read_enum("sampling", v.sampling, {"rules", "uniform5"});
  }
  if (auto r = t.table("messages")) {
    r->check_keys({"degradation", "raw_errors"});
    r->read_enum("degradation", v.degradation, {"v1", "v2"});
    r->read("raw_errors", v.raw_errors);
  }
}

// [seed] and [target]: figure = { value = 0.15, min = 0.1, max = 0.2, note = "..." }.
void read_figures(core::TomlReader& t, std::vector<SeedFigure>& out, const std::string& where) {
  for (const std::string& key : t.keys()) {
    const auto known = std::find(kFigureNames.begin(), kFigureNames.end(), key);
    if (known == kFigureNames.end()) {
      t.fail(where + ": " + t.name(key) + " is not a figure the simulator reports (" +
             core::join_names(kFigureNames) + ")");
      return;
    }
    auto f = t.table(key);
    if (!f) return;
    f->check_keys({"value", "min", "max", "note"});
    SeedFigure sf;
    sf.figure = key;
    f->read("value", sf.value);
    f->read("min", sf.min);
    f->read("max", sf.max);
    f->read("note", sf.note);
    if (sf.min > sf.max) f->fail(where + ": " + f->name("min") + " must not exceed max");
    out.push_back(std::move(sf));
  }
}

void read_traffic(core::TomlReader& t, Traffic& tr, const std::string& where) {
  t.check_keys({"rate",          "spike_start_s",  "spike_ramp_s",   "spike_end_s",
                "spike_peak",    "daily",          "users",          "registered_share",
                "premium_share", "japanese_share", "pricing",        "recommendation",
                "faq",           "general",        "freeform",       "hot_products",
                "from_log",      "from_log_since", "from_log_until", "from_log_speedup"});
  t.read("rate", tr.rate);
  t.read("spike_start_s", tr.spike_start_s);
  t.read("spike_ramp_s", tr.spike_ramp_s);
  t.read("spike_end_s", tr.spike_end_s);
  t.read("spike_peak", tr.spike_peak);
  t.read("daily", tr.daily);
  t.read("users", tr.users);
  t.read("registered_share", tr.registered_share);
  t.read("premium_share", tr.premium_share);
  t.read("japanese_share", tr.japanese_share);
  t.read("pricing", tr.pricing);
  t.read("recommendation", tr.recommendation);
  t.read("faq", tr.faq);
  t.read("general", tr.general);
  t.read("freeform", tr.freeform);
  t.read("hot_products", tr.hot_products);
  t.read("from_log", tr.from_log);
  t.read("from_log_since", tr.from_log_since);
  t.read("from_log_until", tr.from_log_until);
  t.read("from_log_speedup", tr.from_log_speedup);
  if (tr.from_log_speedup <= 0) t.fail(where + ": traffic.from_log_speedup must be > 0");
  if (tr.rate < 0 || tr.users < 1 || tr.hot_products < 1)
    t.fail(where + ": traffic needs rate >= 0, users and hot_products >= 1");
}

void read_behaviour(core::TomlReader& b, Behaviour& bh, const std::string& where) {
  // The fixed re-send rates per message version are gone: the users read the replies.
  for (const char* gone : {"v1_resend", "v1_resend_max", "v2_resend"}) {
    if (b.has(gone))
      b.fail(where + ": behaviour." + gone +
             " is no more: users re-send on what the reply says (resend_bias, "
             "resend_if_invited, ... in docs/simulator.md)");
  }
  b.check_keys({"resend_bias", "resend_if_invited", "resend_per_link", "resend_if_status",
                "resend_if_eta", "resend_if_on_topic", "resend_max", "too_fast_resend",
                "resend_min_s", "resend_max_s", "auto_retry_share", "contact_bias",
                "contact_per_link", "contact_if_status", "contact_if_eta"});
  b.read("resend_bias", bh.resend_bias);
  b.read("resend_if_invited", bh.resend_if_invited);
  b.read("resend_per_link", bh.resend_per_link);
  b.read("resend_if_status", bh.resend_if_status);
  b.read("resend_if_eta", bh.resend_if_eta);
  b.read("resend_if_on_topic", bh.resend_if_on_topic);
  b.read("resend_max", bh.resend_max);
  b.read("too_fast_resend", bh.too_fast_resend);
  b.read("resend_min_s", bh.resend_min_s);
  b.read("resend_max_s", bh.resend_max_s);
  b.read("auto_retry_share", bh.auto_retry_share);
  b.read("contact_bias", bh.contact_bias);
  b.read("contact_per_link", bh.contact_per_link);
  b.read("contact_if_status", bh.contact_if_status);
  b.read("contact_if_eta", bh.contact_if_eta);
  if (bh.resend_max < 0 || bh.resend_min_s < 0 || bh.resend_max_s < bh.resend_min_s)
    b.fail(where +
           ": behaviour needs resend_max >= 0 and 0 <= resend_min_s <= "
           "resend_max_s");
}

}  // namespace

core::Result<Scenario> parse_scenario(std::string_view text, const std::string& where) {
  toml::table root;
  try {
    root = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    return core::fail("invalid_scenario", where + ": " + std::string(e.description()));
  }
  core::TomlReader r(root, "invalid_scenario");
  r.check_keys({"name", "title", "description", "duration_s", "incident_start_s", "incident_end_s",
                "tasks", "seed", "traffic", "behaviour", "models", "abuse", "catalog_event",
                "variant", "seed_figures", "targets"});
  Scenario s;
  r.read("name", s.name);
  if (s.name.empty()) r.fail(where + ": a scenario needs a name");
  s.title = s.name;
  r.read("title", s.title);
  r.read("description", s.description);
  r.read("duration_s", s.duration_s);
  r.read("incident_start_s", s.incident_start_s);
  r.read("incident_end_s", s.incident_end_s);
  r.read("tasks", s.tasks);
  r.read("seed", s.seed);
  if (s.duration_s <= 0 || s.duration_s > 7 * 86400)
    r.fail(where + ": duration_s must be within (0, 604800]");
  if (s.tasks < 1 || s.tasks > 1024) r.fail(where + ": tasks must be within 1..1024");
  if (s.incident_end_s < s.incident_start_s || s.incident_end_s > s.duration_s)
    r.fail(where + ": need 0 <= incident_start_s <= incident_end_s <= duration_s");

  if (auto t = r.table("traffic")) read_traffic(*t, s.traffic, where);
  if (auto b = r.table("behaviour")) read_behaviour(*b, s.behaviour, where);
  if (auto m = r.table("models")) {
    m->check_keys({"sonnet", "haiku"});
    if (auto t = m->table("sonnet")) read_model(*t, s.sonnet);
    if (auto t = m->table("haiku")) read_model(*t, s.haiku);
  }
  for (core::TomlReader& t : r.tables("abuse")) {
    t.check_keys({"sources", "rate", "start_s", "end_s"});
    Abuse ab;
    t.read("sources", ab.sources);
    t.read("rate", ab.rate);
    t.read("start_s", ab.start_s);
    ab.end_s = s.duration_s;
    t.read("end_s", ab.end_s);
    s.abuse.push_back(ab);
  }
  for (core::TomlReader& t : r.tables("catalog_event")) {
    t.check_keys({"at_s", "kind", "discount_pct"});
    CatalogEvent ce;
    t.read("at_s", ce.at_s);
    t.read("discount_pct", ce.discount_pct);
    if (!t.read_enum("kind", ce.kind, {"sale_start", "sale_end"}) && !t.has("kind"))
      t.fail(where + ": catalog_event.kind must be sale_start or sale_end");
    s.events.push_back(ce);
  }
  s.variants["incident"].name = "incident";
  s.variants["fixed"].name = "fixed";
  if (auto v = r.table("variant")) {
    v->check_keys({"incident", "fixed"});
    for (const char* name : {"incident", "fixed"}) {
      if (auto t = v->table(name)) read_variant(*t, s.variants[name], where);
    }
  }
  if (auto t = r.table("seed_figures")) read_figures(*t, s.seed_figures, where);
  if (auto t = r.table("targets")) read_figures(*t, s.targets, where);
  if (!r.ok()) return core::fail(r.status().error());
  return s;
}

core::Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) return core::fail("not_found", "cannot read the scenario " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_scenario(ss.str(), path);
}

}  // namespace ma::sim
