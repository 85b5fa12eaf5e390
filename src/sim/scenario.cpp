#include "sim/scenario.hpp"

#include <fstream>
#include <sstream>

#include "core/config_reader.hpp"
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

void read_variant(core::TomlReader& t, Variant& v) {
  t.check_keys({"jitter", "max_attempts", "retry_budget_per_minute", "breaker_wait_s",
                "stagger_max_s", "static_global_rate", "cache_ttl_s", "cache_first", "invalidation",
                "price_guard", "disclaimers", "client_limiter", "client_quota", "sampling",
                "degradation", "hedge"});
  t.read_enum("jitter", v.jitter, std::span(resilience::kJitterNames));
  t.read("max_attempts", v.max_attempts);
  t.read("retry_budget_per_minute", v.retry_budget_per_minute);
  t.read("breaker_wait_s", v.breaker_wait_s);
  t.read("stagger_max_s", v.stagger_max_s);
  t.read("static_global_rate", v.static_global_rate);
  t.read("cache_ttl_s", v.cache_ttl_s);
  t.read("cache_first", v.cache_first);
  t.read("invalidation", v.invalidation);
  t.read("price_guard", v.price_guard);
  t.read("disclaimers", v.disclaimers);
  t.read("client_limiter", v.client_limiter);
  t.read("client_quota", v.client_quota);
  t.read("hedge", v.hedge);
  t.read_enum("sampling", v.sampling, {"rules", "uniform5"});
  t.read_enum("degradation", v.degradation, {"v1", "v2"});
}

void read_traffic(core::TomlReader& t, Traffic& tr, const std::string& where) {
  t.check_keys({"rate", "spike_start_s", "spike_ramp_s", "spike_end_s", "spike_peak", "daily",
                "users", "registered_share", "premium_share", "japanese_share", "pricing",
                "recommendation", "faq", "general", "freeform", "hot_products"});
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
                "resend_min_s", "resend_max_s", "auto_retry_share"});
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
                "variant"});
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
      if (auto t = v->table(name)) read_variant(*t, s.variants[name]);
    }
  }
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
