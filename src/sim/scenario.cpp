#include "sim/scenario.hpp"

#include <fstream>
#include <sstream>

#include "core/toml.hpp"
#include "core/toml_keys.hpp"

namespace ma::sim {

namespace {

using Status = core::Status;

Status unknown_keys(const toml::table& t, const std::string& where,
                    std::initializer_list<std::string_view> allowed) {
  return core::check_toml_keys(t, where, allowed, "invalid_scenario");
}

// Numbers may be written as integers or floats.
bool num(const toml::table& t, std::string_view key, double& out) {
  if (auto v = t[key].value<double>()) {
    out = *v;
    return true;
  }
  return false;
}
void num(const toml::table& t, std::string_view key, int& out) {
  if (auto v = t[key].value<std::int64_t>()) out = static_cast<int>(*v);
}
template <class T>
void opt(const toml::table& t, std::string_view key, std::optional<T>& out) {
  if constexpr (std::is_same_v<T, double>) {
    if (auto v = t[key].value<double>()) out = *v;
  } else if constexpr (std::is_same_v<T, int>) {
    if (auto v = t[key].value<std::int64_t>()) out = static_cast<int>(*v);
  } else {
    if (auto v = t[key].value<T>()) out = *v;
  }
}

Status model(const toml::table& t, const std::string& where, ModelModel& m) {
  if (auto st = unknown_keys(
          t, where, {"capacity_rps", "quota_rps", "latency_median_ms", "latency_p99_ms", "fault"});
      !st.ok())
    return st;
  num(t, "capacity_rps", m.capacity_rps);
  m.quota_rps = m.capacity_rps;  // unless stated: the quota is what the region gives
  num(t, "quota_rps", m.quota_rps);
  num(t, "latency_median_ms", m.latency_median_ms);
  num(t, "latency_p99_ms", m.latency_p99_ms);
  if (const auto* faults = t["fault"].as_array()) {
    for (const auto& f : *faults) {
      const auto* ft = f.as_table();
      if (ft == nullptr) return core::fail("invalid_scenario", where + "fault must be tables");
      if (auto st = unknown_keys(*ft, where + "fault.", {"start_s", "end_s", "kind", "value"});
          !st.ok())
        return st;
      ModelFault mf;
      num(*ft, "start_s", mf.start_s);
      num(*ft, "end_s", mf.end_s);
      num(*ft, "value", mf.value);
      mf.kind = (*ft)["kind"].value_or(std::string());
      if (mf.kind != "outage" && mf.kind != "throttle" && mf.kind != "capacity" &&
          mf.kind != "unknown_format" && mf.kind != "latency") {
        return core::fail("invalid_scenario",
                          where + "fault.kind \"" + mf.kind +
                              "\" is not outage, throttle, capacity, unknown_format or latency");
      }
      if (mf.end_s <= mf.start_s)
        return core::fail("invalid_scenario", where + "fault: end_s must be after start_s");
      m.faults.push_back(mf);
    }
  }
  return core::Ok{};
}

Status variant(const toml::table& t, const std::string& where, Variant& v) {
  if (auto st = unknown_keys(
          t, where,
          {"jitter", "max_attempts", "retry_budget_per_minute", "breaker_wait_s", "stagger_max_s",
           "static_global_rate", "cache_ttl_s", "cache_first", "invalidation", "price_guard",
           "disclaimers", "client_limiter", "client_quota", "sampling", "degradation"});
      !st.ok())
    return st;
  opt(t, "jitter", v.jitter);
  opt(t, "max_attempts", v.max_attempts);
  opt(t, "retry_budget_per_minute", v.retry_budget_per_minute);
  opt(t, "breaker_wait_s", v.breaker_wait_s);
  opt(t, "stagger_max_s", v.stagger_max_s);
  opt(t, "static_global_rate", v.static_global_rate);
  opt(t, "cache_ttl_s", v.cache_ttl_s);
  opt(t, "cache_first", v.cache_first);
  opt(t, "invalidation", v.invalidation);
  opt(t, "price_guard", v.price_guard);
  opt(t, "disclaimers", v.disclaimers);
  opt(t, "client_limiter", v.client_limiter);
  opt(t, "client_quota", v.client_quota);
  opt(t, "sampling", v.sampling);
  opt(t, "degradation", v.degradation);
  if (v.jitter && *v.jitter != "none" && *v.jitter != "full" && *v.jitter != "equal" &&
      *v.jitter != "decorrelated")
    return core::fail("invalid_scenario",
                      where + "jitter must be none, full, equal or decorrelated");
  if (v.sampling && *v.sampling != "rules" && *v.sampling != "uniform5")
    return core::fail("invalid_scenario", where + "sampling must be rules or uniform5");
  if (v.degradation && *v.degradation != "v1" && *v.degradation != "v2")
    return core::fail("invalid_scenario", where + "degradation must be v1 or v2");
  return core::Ok{};
}

}  // namespace

core::Result<Scenario> parse_scenario(std::string_view text, const std::string& where) {
  toml::table root;
  try {
    root = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    return core::fail("invalid_scenario", where + ": " + std::string(e.description()));
  }
  if (auto st = unknown_keys(
          root, "",
          {"name", "title", "description", "duration_s", "incident_start_s", "incident_end_s",
           "tasks", "seed", "traffic", "behaviour", "models", "abuse", "catalog_event", "variant"});
      !st.ok())
    return core::fail(st.error());
  Scenario s;
  s.name = root["name"].value_or(std::string());
  if (s.name.empty()) return core::fail("invalid_scenario", where + ": a scenario needs a name");
  s.title = root["title"].value_or(s.name);
  s.description = root["description"].value_or(std::string());
  num(root, "duration_s", s.duration_s);
  num(root, "incident_start_s", s.incident_start_s);
  num(root, "incident_end_s", s.incident_end_s);
  num(root, "tasks", s.tasks);
  if (auto v = root["seed"].value<std::int64_t>()) s.seed = static_cast<std::uint64_t>(*v);
  if (s.duration_s <= 0 || s.duration_s > 7 * 86400)
    return core::fail("invalid_scenario", where + ": duration_s must be within (0, 604800]");
  if (s.tasks < 1 || s.tasks > 1024)
    return core::fail("invalid_scenario", where + ": tasks must be within 1..1024");
  if (s.incident_end_s < s.incident_start_s || s.incident_end_s > s.duration_s)
    return core::fail("invalid_scenario",
                      where + ": need 0 <= incident_start_s <= incident_end_s <= duration_s");

  if (const auto* t = root["traffic"].as_table()) {
    if (auto st = unknown_keys(
            *t, "traffic.",
            {"rate", "spike_start_s", "spike_ramp_s", "spike_end_s", "spike_peak", "daily", "users",
             "registered_share", "premium_share", "japanese_share", "pricing", "recommendation",
             "faq", "general", "freeform", "hot_products"});
        !st.ok())
      return core::fail(st.error());
    auto& tr = s.traffic;
    num(*t, "rate", tr.rate);
    num(*t, "spike_start_s", tr.spike_start_s);
    num(*t, "spike_ramp_s", tr.spike_ramp_s);
    num(*t, "spike_end_s", tr.spike_end_s);
    num(*t, "spike_peak", tr.spike_peak);
    tr.daily = (*t)["daily"].value_or(tr.daily);
    num(*t, "users", tr.users);
    num(*t, "registered_share", tr.registered_share);
    num(*t, "premium_share", tr.premium_share);
    num(*t, "japanese_share", tr.japanese_share);
    num(*t, "pricing", tr.pricing);
    num(*t, "recommendation", tr.recommendation);
    num(*t, "faq", tr.faq);
    num(*t, "general", tr.general);
    num(*t, "freeform", tr.freeform);
    num(*t, "hot_products", tr.hot_products);
    if (tr.rate < 0 || tr.users < 1 || tr.hot_products < 1)
      return core::fail("invalid_scenario",
                        where + ": traffic needs rate >= 0, users and hot_products >= 1");
  }
  if (const auto* b = root["behaviour"].as_table()) {
    // The fixed re-send rates per message version are gone: the users read the replies.
    for (const char* gone : {"v1_resend", "v1_resend_max", "v2_resend"}) {
      if (b->contains(gone))
        return core::fail("invalid_scenario",
                          where + ": behaviour." + gone +
                              " is no more: users re-send on what the reply says (resend_bias, "
                              "resend_if_invited, ... in docs/simulator.md)");
    }
    if (auto st =
            unknown_keys(*b, "behaviour.",
                         {"resend_bias", "resend_if_invited", "resend_per_link", "resend_if_status",
                          "resend_if_eta", "resend_if_on_topic", "resend_max", "too_fast_resend",
                          "resend_min_s", "resend_max_s", "auto_retry_share"});
        !st.ok())
      return core::fail(st.error());
    auto& bh = s.behaviour;
    num(*b, "resend_bias", bh.resend_bias);
    num(*b, "resend_if_invited", bh.resend_if_invited);
    num(*b, "resend_per_link", bh.resend_per_link);
    num(*b, "resend_if_status", bh.resend_if_status);
    num(*b, "resend_if_eta", bh.resend_if_eta);
    num(*b, "resend_if_on_topic", bh.resend_if_on_topic);
    num(*b, "resend_max", bh.resend_max);
    num(*b, "too_fast_resend", bh.too_fast_resend);
    num(*b, "resend_min_s", bh.resend_min_s);
    num(*b, "resend_max_s", bh.resend_max_s);
    num(*b, "auto_retry_share", bh.auto_retry_share);
    if (bh.resend_max < 0 || bh.resend_min_s < 0 || bh.resend_max_s < bh.resend_min_s)
      return core::fail("invalid_scenario",
                        where +
                            ": behaviour needs resend_max >= 0 and 0 <= resend_min_s <= "
                            "resend_max_s");
  }
  if (const auto* m = root["models"].as_table()) {
    if (auto st = unknown_keys(*m, "models.", {"sonnet", "haiku"}); !st.ok())
      return core::fail(st.error());
    if (const auto* t = (*m)["sonnet"].as_table())
      if (auto st = model(*t, "models.sonnet.", s.sonnet); !st.ok()) return core::fail(st.error());
    if (const auto* t = (*m)["haiku"].as_table())
      if (auto st = model(*t, "models.haiku.", s.haiku); !st.ok()) return core::fail(st.error());
  }
  if (const auto* a = root["abuse"].as_array()) {
    for (const auto& e : *a) {
      const auto* t = e.as_table();
      if (t == nullptr) return core::fail("invalid_scenario", where + ": abuse must be tables");
      if (auto st = unknown_keys(*t, "abuse.", {"sources", "rate", "start_s", "end_s"}); !st.ok())
        return core::fail(st.error());
      Abuse ab;
      num(*t, "sources", ab.sources);
      num(*t, "rate", ab.rate);
      num(*t, "start_s", ab.start_s);
      ab.end_s = s.duration_s;
      num(*t, "end_s", ab.end_s);
      s.abuse.push_back(ab);
    }
  }
  if (const auto* a = root["catalog_event"].as_array()) {
    for (const auto& e : *a) {
      const auto* t = e.as_table();
      if (t == nullptr)
        return core::fail("invalid_scenario", where + ": catalog_event must be tables");
      if (auto st = unknown_keys(*t, "catalog_event.", {"at_s", "kind", "discount_pct"}); !st.ok())
        return core::fail(st.error());
      CatalogEvent ce;
      num(*t, "at_s", ce.at_s);
      num(*t, "discount_pct", ce.discount_pct);
      ce.kind = (*t)["kind"].value_or(std::string());
      if (ce.kind != "sale_start" && ce.kind != "sale_end")
        return core::fail("invalid_scenario",
                          where + ": catalog_event.kind must be sale_start or sale_end");
      s.events.push_back(ce);
    }
  }
  s.variants["incident"].name = "incident";
  s.variants["fixed"].name = "fixed";
  if (const auto* v = root["variant"].as_table()) {
    if (auto st = unknown_keys(*v, "variant.", {"incident", "fixed"}); !st.ok())
      return core::fail(st.error());
    for (const char* name : {"incident", "fixed"}) {
      if (const auto* t = (*v)[name].as_table()) {
        if (auto st = variant(*t, std::string("variant.") + name + ".", s.variants[name]); !st.ok())
          return core::fail(st.error());
      }
    }
  }
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
