#include "server/config.hpp"

#include <set>

#include "catalog/catalog.hpp"
#include "core/json_util.hpp"
#include "core/toml.hpp"
#include "core/toml_keys.hpp"

namespace ma::server {

AppConfig default_config() {
  AppConfig c;
  c.data_dir = MA_DEFAULT_DATA_DIR;
  c.events_file = std::string(MA_DEFAULT_DATA_DIR) + "/events.json";
  c.server.web_dir = MA_DEFAULT_WEB_DIR;
  return c;
}

namespace {

using std::chrono::milliseconds;

core::Status check_keys(const toml::table& t, const std::string& where,
                        std::initializer_list<std::string_view> allowed) {
  return core::check_toml_keys(t, where, allowed, "invalid_config");
}

template <class T>
void get(const toml::table& t, std::string_view key, T& out) {
  if (auto v = t[key].value<T>()) out = *v;
}
void get_ms(const toml::table& t, std::string_view key, core::Duration& out) {
  if (auto v = t[key].value<std::int64_t>()) out = milliseconds(*v);
}

core::Status model(const toml::table& t, const std::string& where, fm::SimModelSpec& m) {
  if (auto st =
          check_keys(t, where, {"latency_median_ms", "latency_p99_ms", "capacity_rps", "chunks"});
      !st.ok()) {
    return st;
  }
  get_ms(t, "latency_median_ms", m.latency_median);
  get_ms(t, "latency_p99_ms", m.latency_p99);
  get(t, "capacity_rps", m.capacity_rps);
  if (auto v = t["capacity_rps"].value<std::int64_t>()) m.capacity_rps = static_cast<double>(*v);
  if (auto v = t["chunks"].value<std::int64_t>()) m.chunks = static_cast<int>(*v);
  return core::Ok{};
}

// The line of the first byte outside ASCII that is not inside a string or a comment; 0
// when none. toml++ 3.3 (Debian's) reaches undefined behaviour on such bytes right after a
// value ("port = 39é", marzer/tomlplusplus#295); a config never needs them there.
std::size_t stray_non_ascii_line(std::string_view t) {
  std::size_t line = 1;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '\n') {
      ++line;
    } else if (c == '#') {
      while (i + 1 < t.size() && t[i + 1] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool multi = t.substr(i, 3) == std::string_view(c == '"' ? "\"\"\"" : "'''");
      const std::string_view close = multi ? t.substr(i, 3) : t.substr(i, 1);
      i += close.size();
      while (i < t.size() && t.substr(i, close.size()) != close) {
        if (c == '"' && t[i] == '\\') ++i;  // an escape in a basic string
        if (i < t.size() && t[i] == '\n') {
          if (!multi) return 0;  // an unterminated string: toml++ reports it
          ++line;
        }
        ++i;
      }
      i += close.size() - 1;
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      return line;
    }
  }
  return 0;
}

}  // namespace

core::Status load_toml(const std::string& path, AppConfig& cfg) {
  auto text = core::read_file(path);
  if (!text.ok()) return core::fail("invalid_config", "cannot read " + path);
  if (const std::size_t line = stray_non_ascii_line(*text); line != 0) {
    return core::fail("invalid_config",
                      path + ":" + std::to_string(line) +
                          ": characters outside ASCII are allowed only in strings and comments");
  }
  toml::table root;
  try {
    root = toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    return core::fail("invalid_config", path + ": " + std::string(e.description()));
  }
  if (auto st = check_keys(root, "",
                           {"server", "pipeline", "models", "catalog", "cache", "retry",
                            "admission", "observe", "providers", "openai", "bedrock", "fleet"});
      !st.ok()) {
    return st;
  }
  if (auto* s = root["server"].as_table()) {
    if (auto st = check_keys(*s, "server.",
                             {"host",
                              "port",
                              "threads",
                              "admin_token",
                              "web_dir",
                              "header_timeout_ms",
                              "idle_timeout_ms",
                              "shutdown_grace_ms",
                              "trusted_proxies",
                              "auth_secret",
                              "auth_secret_file",
                              "session_issue_rate",
                              "session_issue_burst",
                              "allowed_origins",
                              "ws_max_queued_bytes",
                              "ws_ping_interval_ms",
                              "ws_idle_timeout_ms",
                              "ws_send_timeout_ms",
                              "max_connections",
                              "admin_port",
                              "admin_host"});
        !st.ok()) {
      return st;
    }
    get(*s, "host", cfg.server.host);
    if (auto v = (*s)["port"].value<std::int64_t>())
      cfg.server.port = static_cast<std::uint16_t>(*v);
    if (auto v = (*s)["threads"].value<std::int64_t>()) cfg.server.threads = static_cast<int>(*v);
    get(*s, "admin_token", cfg.server.admin_token);
    get(*s, "web_dir", cfg.server.web_dir);
    get_ms(*s, "header_timeout_ms", cfg.server.header_timeout);
    get_ms(*s, "idle_timeout_ms", cfg.server.idle_timeout);
    get_ms(*s, "shutdown_grace_ms", cfg.server.shutdown_grace);
    get(*s, "auth_secret", cfg.server.auth_secret);
    get(*s, "auth_secret_file", cfg.server.auth_secret_file);
    if (auto v = (*s)["session_issue_rate"].value<double>()) cfg.server.session_issue_rate = *v;
    if (auto v = (*s)["session_issue_burst"].value<double>()) cfg.server.session_issue_burst = *v;
    if (cfg.server.session_issue_rate < 0 || cfg.server.session_issue_burst < 1) {
      return core::fail("invalid_config",
                        "server.session_issue_rate must be >= 0 and session_issue_burst >= 1");
    }
    if (auto v = (*s)["ws_max_queued_bytes"].value<std::int64_t>()) {
      if (*v < 16 * 1024)
        return core::fail("invalid_config", "server.ws_max_queued_bytes must be >= 16384");
      cfg.server.ws_max_queued_bytes = static_cast<std::size_t>(*v);
    }
    get_ms(*s, "ws_ping_interval_ms", cfg.server.ws_ping_interval);
    get_ms(*s, "ws_idle_timeout_ms", cfg.server.ws_idle_timeout);
    get_ms(*s, "ws_send_timeout_ms", cfg.server.ws_send_timeout);
    if (auto v = (*s)["max_connections"].value<std::int64_t>()) {
      if (*v < 0) return core::fail("invalid_config", "server.max_connections must be >= 0");
      cfg.server.max_connections = static_cast<std::size_t>(*v);
    }
    if (auto v = (*s)["admin_port"].value<std::int64_t>()) {
      if (*v < 0 || *v > 65535)
        return core::fail("invalid_config", "server.admin_port must be 0-65535");
      if (*v == 0) {
        cfg.server.admin_port.reset();
      } else {
        cfg.server.admin_port = static_cast<std::uint16_t>(*v);
      }
    }
    get(*s, "admin_host", cfg.server.admin_host);
    if (const toml::node* n = s->get("allowed_origins")) {
      const toml::array* arr = n->as_array();
      if (arr == nullptr || (!arr->empty() && !arr->is_homogeneous(toml::node_type::string))) {
        return core::fail("invalid_config",
                          "server.allowed_origins must be a list of origins, like "
                          "[\"https://shop.example.jp\"]");
      }
      cfg.server.allowed_origins.clear();
      for (const toml::node& e : *arr)
        cfg.server.allowed_origins.push_back(*e.value<std::string>());
    }
    if (const toml::node* n = s->get("trusted_proxies")) {
      const toml::array* arr = n->as_array();
      // (is_homogeneous is false for an empty list, which is valid: no proxies.)
      if (arr == nullptr || (!arr->empty() && !arr->is_homogeneous(toml::node_type::string))) {
        return core::fail("invalid_config",
                          "server.trusted_proxies must be a list of addresses and networks, "
                          "like [\"10.0.0.0/8\"]");
      }
      std::vector<std::string> entries;
      for (const toml::node& e : *arr) entries.push_back(*e.value<std::string>());
      auto proxies = TrustedProxies::parse(entries);
      if (!proxies.ok()) return core::fail(std::move(proxies).error());
      cfg.server.trusted_proxies = std::move(proxies).value();
    }
  }
  if (auto* p = root["pipeline"].as_table()) {
    if (auto st = check_keys(*p, "pipeline.",
                             {"deadline_ms", "reserve_ms", "stagger_max_ms", "dedupe_window_ms",
                              "max_limiter_wait_ms", "breaker_wait_in_open_ms",
                              "breaker_minimum_calls", "breaker_failure_rate"});
        !st.ok()) {
      return st;
    }
    get_ms(*p, "deadline_ms", cfg.pipeline.deadline);
    get_ms(*p, "reserve_ms", cfg.pipeline.reserve);
    get_ms(*p, "stagger_max_ms", cfg.pipeline.stagger_max);
    get_ms(*p, "dedupe_window_ms", cfg.pipeline.dedupe_window);
    get_ms(*p, "max_limiter_wait_ms", cfg.pipeline.max_limiter_wait);
    get_ms(*p, "breaker_wait_in_open_ms", cfg.pipeline.breaker.wait_in_open);
    if (auto v = (*p)["breaker_minimum_calls"].value<std::int64_t>()) {
      cfg.pipeline.breaker.minimum_calls = static_cast<int>(*v);
    }
    get(*p, "breaker_failure_rate", cfg.pipeline.breaker.failure_rate_threshold);
  }
  if (auto* r = root["retry"].as_table()) {
    if (auto st = check_keys(*r, "retry.",
                             {"max_attempts", "jitter", "base_ms", "cap_ms", "budget_per_minute"});
        !st.ok()) {
      return st;
    }
    if (auto v = (*r)["max_attempts"].value<std::int64_t>())
      cfg.pipeline.retry.max_attempts = static_cast<int>(*v);
    if (auto v = (*r)["jitter"].value<std::string>()) {
      auto j = resilience::parse_jitter(*v);
      if (!j)
        return core::fail("invalid_config",
                          "retry.jitter must be none, full, equal or decorrelated");
      cfg.pipeline.retry.backoff.jitter = *j;
    }
    get_ms(*r, "base_ms", cfg.pipeline.retry.backoff.base);
    get_ms(*r, "cap_ms", cfg.pipeline.retry.backoff.cap);
    if (auto v = (*r)["budget_per_minute"].value<std::int64_t>())
      cfg.retry_budget_per_minute = static_cast<int>(*v);
  }
  if (auto* m = root["models"].as_table()) {
    if (auto st = check_keys(*m, "models.", {"sonnet", "haiku"}); !st.ok()) return st;
    if (auto* t = (*m)["sonnet"].as_table()) {
      if (auto st = model(*t, "models.sonnet.", cfg.sonnet); !st.ok()) return st;
    }
    if (auto* t = (*m)["haiku"].as_table()) {
      if (auto st = model(*t, "models.haiku.", cfg.haiku); !st.ok()) return st;
    }
  }
  if (auto* a = root["admission"].as_table()) {
    if (auto st = check_keys(*a, "admission.",
                             {"global_rate", "global_burst", "dynamic", "max_global_rate",
                              "max_wait_ms", "max_queue", "events_file", "anonymous", "registered",
                              "premium", "per_source", "sonnet_quota_rps", "haiku_quota_rps"});
        !st.ok()) {
      return st;
    }
    auto num = [&](const toml::table& t, std::string_view k, double& out) {
      if (auto v = t[k].value<double>()) out = *v;
    };
    auto& ad = cfg.admission;
    num(*a, "global_rate", ad.global_rate);
    num(*a, "global_burst", ad.global_burst);
    num(*a, "max_global_rate", ad.max_global_rate);
    num(*a, "sonnet_quota_rps", cfg.sonnet_quota_rps);
    num(*a, "haiku_quota_rps", cfg.haiku_quota_rps);
    get(*a, "dynamic", ad.dynamic);
    get_ms(*a, "max_wait_ms", ad.max_wait);
    if (auto v = (*a)["max_queue"].value<std::int64_t>())
      ad.max_queue = static_cast<std::size_t>(*v);
    get(*a, "events_file", cfg.events_file);
    const std::pair<const char*, admission::UsagePlan*> plans[] = {{"anonymous", &ad.plans[0]},
                                                                   {"registered", &ad.plans[1]},
                                                                   {"premium", &ad.plans[2]},
                                                                   {"per_source", &ad.per_source}};
    for (auto [name, plan] : plans) {
      if (auto* t = (*a)[name].as_table()) {
        if (auto st = check_keys(*t, std::string("admission.") + name + ".",
                                 {"rate", "burst", "quota_per_day"});
            !st.ok()) {
          return st;
        }
        num(*t, "rate", plan->rate);
        num(*t, "burst", plan->burst);
        if (auto v = (*t)["quota_per_day"].value<std::int64_t>()) plan->quota = *v;
      }
    }
  }
  if (auto* p = root["providers"].as_table()) {
    if (auto st = check_keys(*p, "providers.", {"kind", "primary", "secondary"}); !st.ok())
      return st;
    std::string kind;
    get(*p, "kind", kind);
    if (!kind.empty()) cfg.primary_provider = cfg.secondary_provider = kind;
    get(*p, "primary", cfg.primary_provider);
    get(*p, "secondary", cfg.secondary_provider);
    for (const std::string* v : {&cfg.primary_provider, &cfg.secondary_provider}) {
      if (*v != "simulated" && *v != "openai" && *v != "bedrock") {
        return core::fail("invalid_config",
                          "providers: \"" + *v + "\" is not simulated, bedrock or openai");
      }
    }
  }
  if (auto* f = root["fleet"].as_table()) {
    if (auto st = check_keys(*f, "fleet.", {"redis", "name", "server_id"}); !st.ok()) return st;
    get(*f, "redis", cfg.redis_url);
    get(*f, "name", cfg.fleet_name);
    get(*f, "server_id", cfg.server_id);
  }
  if (auto* b = root["bedrock"].as_table()) {
    if (auto st = check_keys(*b, "bedrock.",
                             {"region", "endpoint", "profile", "primary_model", "secondary_model",
                              "stream", "max_tokens", "temperature", "ca_file"});
        !st.ok()) {
      return st;
    }
    for (fm::BedrockConfig* c : {&cfg.bedrock_primary, &cfg.bedrock_secondary}) {
      get(*b, "region", c->region);
      get(*b, "endpoint", c->endpoint);
      get(*b, "profile", c->profile);
      get(*b, "ca_file", c->ca_file);
      get(*b, "stream", c->stream);
      if (auto v = (*b)["max_tokens"].value<std::int64_t>()) c->max_tokens = static_cast<int>(*v);
      if (auto v = (*b)["temperature"].value<double>()) c->temperature = *v;
    }
    get(*b, "primary_model", cfg.bedrock_primary.model_id);
    get(*b, "secondary_model", cfg.bedrock_secondary.model_id);
  }
  if (auto* o = root["openai"].as_table()) {
    if (auto st =
            check_keys(*o, "openai.",
                       {"base_url", "primary_model", "secondary_model", "max_tokens", "ca_file"});
        !st.ok()) {
      return st;
    }
    std::string base;
    get(*o, "base_url", base);
    if (!base.empty()) cfg.openai_primary.base_url = cfg.openai_secondary.base_url = base;
    std::string ca;
    get(*o, "ca_file", ca);
    if (!ca.empty()) cfg.openai_primary.ca_file = cfg.openai_secondary.ca_file = ca;
    get(*o, "primary_model", cfg.openai_primary.model);
    get(*o, "secondary_model", cfg.openai_secondary.model);
    if (auto v = (*o)["max_tokens"].value<std::int64_t>()) {
      cfg.openai_primary.max_tokens = cfg.openai_secondary.max_tokens = static_cast<int>(*v);
    }
  }
  if (auto* o = root["observe"].as_table()) {
    if (auto st =
            check_keys(*o, "observe.",
                       {"log_file", "log_stdout", "trace_file", "sampling_rules", "otlp_endpoint"});
        !st.ok()) {
      return st;
    }
    get(*o, "log_file", cfg.log_file);
    get(*o, "log_stdout", cfg.log_stdout);
    get(*o, "trace_file", cfg.trace_file);
    get(*o, "sampling_rules", cfg.sampling_rules);
    get(*o, "otlp_endpoint", cfg.otlp_endpoint);
  }
  if (auto* c = root["catalog"].as_table()) {
    if (auto st = check_keys(*c, "catalog.", {"data_dir", "db_path"}); !st.ok()) return st;
    get(*c, "data_dir", cfg.data_dir);
    get(*c, "db_path", cfg.db_path);
  }
  if (auto* c = root["cache"].as_table()) {
    if (auto st = check_keys(*c, "cache.",
                             {"max_entries", "validate_every_s", "validate_sample", "ttl_s"});
        !st.ok()) {
      return st;
    }
    if (auto v = (*c)["max_entries"].value<std::int64_t>()) {
      cfg.cache_max_entries = static_cast<std::size_t>(*v);
    }
    if (auto v = (*c)["validate_every_s"].value<std::int64_t>()) {
      cfg.maintenance.validate_every = std::chrono::seconds(*v);
    }
    if (auto v = (*c)["validate_sample"].value<std::int64_t>()) {
      cfg.maintenance.validate_sample = static_cast<std::size_t>(*v);
    }
    if (auto* ttl = (*c)["ttl_s"].as_table()) {
      for (const auto& [k, v] : *ttl) {
        const auto intent = assist::parse_intent(k.str());
        const auto secs = v.value<std::int64_t>();
        if (!intent || !secs || *secs < 0) {
          return core::fail("invalid_config",
                            "cache.ttl_s." + std::string(k.str()) +
                                ": expected an intent name and whole seconds >= 0");
        }
        cfg.pipeline.cache_ttl[static_cast<int>(*intent)] = std::chrono::seconds(*secs);
      }
    }
  }
  return core::Ok{};
}

core::Result<std::vector<admission::ScheduledEvent>> load_events(const std::string& path) {
  std::vector<admission::ScheduledEvent> out;
  auto text = core::read_file(path);
  if (!text.ok()) return out;  // no calendar: no prescaling
  auto v = core::parse_json(*text);
  if (!v.ok() || !v->is_object()) return core::fail("invalid_config", "bad JSON in " + path);
  const auto* arr = v->get_object().if_contains("events");
  if (arr == nullptr || !arr->is_array()) return out;
  for (const auto& e : arr->get_array()) {
    admission::ScheduledEvent ev;
    ev.name = std::string(core::get_string(e, "name").value_or(""));
    const auto start = catalog::parse_rfc3339_utc(core::get_string(e, "start").value_or(""));
    const auto end = catalog::parse_rfc3339_utc(core::get_string(e, "end").value_or(""));
    const auto lead = core::get_number(e, "prescale_hours_before").value_or(2);
    const auto rate = core::get_number(e, "global_rate");
    if (!start || !end || !rate || *rate <= 0 || *end <= *start ||
        !(lead >= 0 && lead <= 24 * 366)) {
      return core::fail("invalid_config", "bad event '" + ev.name + "' in " + path);
    }
    ev.prescale_from = *start - std::chrono::duration_cast<core::WallTime::duration>(
                                    std::chrono::duration<double, std::ratio<3600>>(lead));
    ev.end = *end;
    ev.global_rate = *rate;
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace ma::server
