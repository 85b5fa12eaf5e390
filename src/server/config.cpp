#include "server/config.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "assist/flags.hpp"
#include "catalog/catalog.hpp"
#include "core/config_reader.hpp"
#include "core/json_util.hpp"
#include "gateway/gateway.hpp"
#include "server/toml_file.hpp"

namespace ma::server {

ShareDirs find_share_dirs(const std::filesystem::path& exe) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto has_catalog = [&ec](const fs::path& dir) {
    return fs::is_regular_file(dir / "data" / "manga_series.jsonl", ec);
  };
  const fs::path bin = exe.parent_path();
  std::optional<fs::path> root;
  if (const fs::path share = bin / ".." / "share" / "mangaassist"; has_catalog(share)) {
    root = share;  // installed: PREFIX/bin/mangaassist beside PREFIX/share/mangaassist
  } else {
    // A build tree: the checkout that holds it (build/mangaassist, build/src/ma_*_test).
    fs::path dir = bin;
    for (int up = 0; up <= 3 && !dir.empty(); ++up) {  // at most three levels up
      if (has_catalog(dir)) {
        root = dir;
        break;
      }
      if (dir == dir.parent_path()) break;
      dir = dir.parent_path();
    }
  }
  if (!root) return {};
  const fs::path r = fs::weakly_canonical(*root, ec);
  return {(r / "data").string(), (r / "web").string(), (r / "scenarios").string()};
}

ShareDirs find_share_dirs() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? ShareDirs{} : find_share_dirs(exe);
}

void set_data_dir(AppConfig& c, const std::string& dir) {
  // The events calendar lives in the data directory unless a file names another.
  if (c.events_file.empty() || c.events_file == c.data_dir + "/events.json") {
    c.events_file = dir + "/events.json";
  }
  c.data_dir = dir;
}

AppConfig default_config() {
  AppConfig c;
  const ShareDirs dirs = find_share_dirs();
  set_data_dir(c, dirs.data);
  c.server.web_dir = dirs.web;
  return c;
}

namespace {

constexpr std::string_view kProviders[] = {"simulated", "bedrock", "openai"};

// A lane's own settings, in [[lanes]] and [models.*]: `lane` names it in messages.
void read_lane_settings(core::TomlReader& t, LaneSettings& l, const std::string& lane) {
  assist::LanePolicy& p = l.policy;
  // 0: from the lane's observed latency (assist::LanePolicy). Checked against the deadline
  // once the whole file is read (check_lane_budgets).
  t.read_ms("first_token_ms", p.first_token, 0, 60'000);
  t.read_ms("idle_ms", p.idle, 1, 60'000);
  t.read("continue_on_fallback", p.continue_on_fallback);
  for (auto [key, out] : {std::pair{"input_usd_per_mtok", &l.input_usd_per_mtok},
                          std::pair{"output_usd_per_mtok", &l.output_usd_per_mtok}}) {
    if (double v = 0; t.read(key, v)) {
      if (!std::isfinite(v) || v < 0 || v > 10'000) {
        t.fail(lane + "." + key + " must be US dollars per million tokens, 0 to 10000");
        return;
      }
      *out = v;
    }
  }
}

void read_model(core::TomlReader& t, fm::SimModelSpec& m, LaneSettings& settings,
                const std::string& lane) {
  t.check_keys({"latency_median_ms", "latency_p99_ms", "capacity_rps", "chunks", "first_token_ms",
                "idle_ms", "continue_on_fallback", "input_usd_per_mtok", "output_usd_per_mtok"});
  read_lane_settings(t, settings, lane);
  t.read_ms("latency_median_ms", m.latency_median);
  t.read_ms("latency_p99_ms", m.latency_p99);
  t.read("capacity_rps", m.capacity_rps);
  t.read("chunks", m.chunks);
}

void read_server(core::TomlReader& s, ServerConfig& c) {
  s.check_keys({"host",
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
  s.read("host", c.host);
  s.read("port", c.port);
  s.read("threads", c.threads, 0, 1024);  // 0: one per core
  s.read("admin_token", c.admin_token);
  s.read("web_dir", c.web_dir);
  s.read_ms("header_timeout_ms", c.header_timeout);
  s.read_ms("idle_timeout_ms", c.idle_timeout);
  s.read_ms("shutdown_grace_ms", c.shutdown_grace);
  s.read("auth_secret", c.auth_secret);
  s.read("auth_secret_file", c.auth_secret_file);
  s.read("session_issue_rate", c.session_issue_rate);
  s.read("session_issue_burst", c.session_issue_burst);
  if (s.checking() && (c.session_issue_rate < 0 || c.session_issue_burst < 1)) {
    s.fail("server.session_issue_rate must be >= 0 and session_issue_burst >= 1");
  }
  s.read("ws_max_queued_bytes", c.ws_max_queued_bytes, 16 * 1024);
  s.read_ms("ws_ping_interval_ms", c.ws_ping_interval);
  s.read_ms("ws_idle_timeout_ms", c.ws_idle_timeout);
  s.read_ms("ws_send_timeout_ms", c.ws_send_timeout);
  s.read("max_connections", c.max_connections);
  // 0: no separate admin listener.
  if (std::uint16_t port = 0; s.read("admin_port", port)) {
    c.admin_port = port == 0 ? std::nullopt : std::optional<std::uint16_t>(port);
  }
  s.read("admin_host", c.admin_host);
  s.read("allowed_origins", c.allowed_origins,
         "a list of origins, like [\"https://shop.example.jp\"]");
  if (std::vector<std::string> entries; s.read(
          "trusted_proxies", entries, "a list of addresses and networks, like [\"10.0.0.0/8\"]")) {
    auto proxies = TrustedProxies::parse(entries);
    if (!proxies.ok()) {
      s.fail(std::move(proxies).error());
    } else {
      c.trusted_proxies = std::move(proxies).value();
    }
  }
}

void read_pipeline(core::TomlReader& p, assist::PipelineConfig& c) {
  p.check_keys({"deadline_ms", "reserve_ms", "stagger_max_ms", "dedupe_window_ms",
                "max_limiter_wait_ms", "breaker_wait_in_open_ms", "breaker_minimum_calls",
                "breaker_window_s", "breaker_failure_rate", "hedge", "hedge_after_ms",
                "hedge_min_delay_ms", "limiter_floor_share", "misconfigured_after",
                "probe_interval_ms"});
  p.read_ms("deadline_ms", c.deadline);
  p.read_ms("reserve_ms", c.reserve);
  p.read_ms("stagger_max_ms", c.stagger_max);
  p.read_ms("dedupe_window_ms", c.dedupe_window);
  p.read_ms("max_limiter_wait_ms", c.max_limiter_wait);
  p.read_ms("breaker_wait_in_open_ms", c.breaker.wait_in_open);
  p.read("breaker_minimum_calls", c.breaker.minimum_calls);
  // The breaker's window: the last N seconds; 0: the last 50 calls instead.
  if (int s = 0; p.read("breaker_window_s", s, 0, 3600)) {
    c.breaker.window_type =
        s > 0 ? resilience::WindowType::kTimeBased : resilience::WindowType::kCountBased;
    c.breaker.window_size = s > 0 ? s : 50;
  }
  p.read("breaker_failure_rate", c.breaker.failure_rate_threshold);
  p.read("hedge", c.hedge.enabled);
  p.read_ms("hedge_after_ms", c.hedge.after, 1, 60'000);
  p.read_ms("hedge_min_delay_ms", c.hedge.min_delay, 0, 60'000);
  p.read("limiter_floor_share", c.limiter_floor_share);
  // A lane is marked after this many configuration errors in a row: 1 would take a lane out
  // on one bad answer; more than 1000 never in practice.
  p.read("misconfigured_after", c.misconfigured_after, 1, 1000);
  // Probes of a broken lane: not more often than 10 a second, at least once an hour.
  p.read_ms("probe_interval_ms", c.probe_interval, 100, 3'600'000);
  if (!p.checking()) return;
  if (!std::isfinite(c.limiter_floor_share) || c.limiter_floor_share < 0 ||
      c.limiter_floor_share > 1) {
    p.fail("pipeline.limiter_floor_share must be a share of the lane's quota, 0 to 1");
  } else if (c.hedge.min_delay > c.hedge.after) {
    p.fail("pipeline.hedge_min_delay_ms must not exceed hedge_after_ms");
  } else if (c.hedge.enabled && c.hedge.after >= c.deadline) {
    p.fail("pipeline.hedge_after_ms must be below deadline_ms (or set hedge = false)");
  }
}

void read_retry(core::TomlReader& r, AppConfig& cfg) {
  r.check_keys({"max_attempts", "jitter", "base_ms", "cap_ms", "budget_per_minute"});
  auto& retry = cfg.pipeline.retry;
  r.read("max_attempts", retry.max_attempts);
  r.read_enum("jitter", retry.backoff.jitter, std::span(resilience::kJitterNames));
  r.read_ms("base_ms", retry.backoff.base);
  r.read_ms("cap_ms", retry.backoff.cap);
  r.read("budget_per_minute", cfg.retry_budget_per_minute);
}

void read_admission(core::TomlReader& a, AppConfig& cfg) {
  a.check_keys({"global_rate", "global_burst", "dynamic", "max_global_rate", "max_wait_ms",
                "max_queue", "events_file", "anonymous", "registered", "premium", "per_source",
                "sonnet_quota_rps", "haiku_quota_rps", "token_estimate"});
  auto& ad = cfg.admission;
  a.read("token_estimate", ad.token_estimate, 1);  // tokens reserved per message
  a.read("global_rate", ad.global_rate);
  a.read("global_burst", ad.global_burst);
  a.read("max_global_rate", ad.max_global_rate);
  a.read("sonnet_quota_rps", cfg.sonnet_quota_rps);
  a.read("haiku_quota_rps", cfg.haiku_quota_rps);
  a.read("dynamic", ad.dynamic);
  a.read_ms("max_wait_ms", ad.max_wait);
  a.read("max_queue", ad.max_queue);
  a.read("events_file", cfg.events_file);
  const std::pair<const char*, admission::UsagePlan*> plans[] = {{"anonymous", &ad.plans[0]},
                                                                 {"registered", &ad.plans[1]},
                                                                 {"premium", &ad.plans[2]},
                                                                 {"per_source", &ad.per_source}};
  for (auto [name, plan] : plans) {
    if (auto t = a.table(name)) {
      const bool per_user = plan != &ad.per_source;  // a token budget is per user
      if (per_user) {
        t->check_keys({"rate", "burst", "quota_per_day", "tokens_per_day"});
      } else {
        t->check_keys({"rate", "burst", "quota_per_day"});
      }
      t->read("rate", plan->rate);
      t->read("burst", plan->burst);
      t->read("quota_per_day", plan->quota);
      if (per_user) t->read("tokens_per_day", plan->daily_tokens, 0);  // 0: no budget
    }
  }
  for (int i = 0; i < admission::kPriorities; ++i) {
    const std::int64_t budget = ad.plans[static_cast<std::size_t>(i)].daily_tokens;
    const std::string key = "admission." + std::string(plans[i].first) + ".tokens_per_day";
    if (budget > 0 && budget < ad.token_estimate) {
      a.fail(key + " must be 0 or at least admission.token_estimate (" +
             std::to_string(ad.token_estimate) + "): no message would ever fit");
    }
  }
}

void read_providers(core::TomlReader& p, AppConfig& cfg) {
  p.check_keys({"kind", "primary", "secondary"});
  if (std::string kind; p.read_enum("kind", kind, kProviders)) {
    cfg.primary_provider = cfg.secondary_provider = kind;
  }
  p.read_enum("primary", cfg.primary_provider, kProviders);
  p.read_enum("secondary", cfg.secondary_provider, kProviders);
}

void read_bedrock(core::TomlReader& b, AppConfig& cfg) {
  b.check_keys({"region", "endpoint", "profile", "primary_model", "secondary_model", "stream",
                "max_tokens", "temperature", "ca_file"});
  // One account and region for both lanes.
  for (fm::BedrockConfig* c : {&cfg.bedrock_primary, &cfg.bedrock_secondary}) {
    b.read("region", c->region);
    b.read("endpoint", c->endpoint);
    b.read("profile", c->profile);
    b.read("ca_file", c->ca_file);
    b.read("stream", c->stream);
    b.read("max_tokens", c->max_tokens);
    b.read("temperature", c->temperature);
  }
  b.read("primary_model", cfg.bedrock_primary.model_id);
  b.read("secondary_model", cfg.bedrock_secondary.model_id);
}

void read_openai(core::TomlReader& o, AppConfig& cfg) {
  o.check_keys({"base_url", "primary_model", "secondary_model", "max_tokens", "ca_file"});
  // One endpoint for both lanes; an empty string keeps the default.
  if (std::string base; o.read("base_url", base) && !base.empty()) {
    cfg.openai_primary.base_url = cfg.openai_secondary.base_url = base;
  }
  if (std::string ca; o.read("ca_file", ca) && !ca.empty()) {
    cfg.openai_primary.ca_file = cfg.openai_secondary.ca_file = ca;
  }
  o.read("primary_model", cfg.openai_primary.model);
  o.read("secondary_model", cfg.openai_secondary.model);
  if (int n = 0; o.read("max_tokens", n)) {
    cfg.openai_primary.max_tokens = cfg.openai_secondary.max_tokens = n;
  }
}

// [[lanes]], after [bedrock] and [openai], whose settings each lane starts from.
void read_lanes(std::vector<core::TomlReader>& tables, AppConfig& cfg) {
  // The cascade keeps the lanes it tried for a message in a 64-bit set; far fewer make sense.
  constexpr std::size_t kMaxLanes = 16;
  if (tables.size() > kMaxLanes) {
    tables.front().fail("lanes: at most " + std::to_string(kMaxLanes) + " lanes, not " +
                        std::to_string(tables.size()));
    return;
  }
  for (core::TomlReader& t : tables) {
    t.check_keys({"name", "provider", "quota_rps", "model", "latency_median_ms", "latency_p99_ms",
                  "capacity_rps", "chunks", "first_token_ms", "idle_ms", "continue_on_fallback",
                  "input_usd_per_mtok", "output_usd_per_mtok"});
    LaneSpec l;
    l.bedrock = cfg.bedrock_primary;
    l.openai = cfg.openai_primary;
    std::string name;
    if (!t.read("name", name) || name.empty()) {
      t.fail("lanes: every lane needs a name");
      return;
    }
    // The name goes into metric labels, the log's "models" field (name:outcome,...) and
    // /admin/chaos, where "all" means every lane.
    const bool plain = std::all_of(name.begin(), name.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.';
    });
    if (!plain || name == "all" || name.size() > 64) {
      t.fail("lanes: a lane's name is up to 64 letters, digits, '_', '-' or '.', not \"all\": \"" +
             name + "\"");
      return;
    }
    l.simulated.name = l.bedrock.lane = l.openai.lane = name;
    t.read_enum("provider", l.provider, kProviders);
    t.read("quota_rps", l.quota_rps);
    if (!std::isfinite(l.quota_rps) || l.quota_rps < 0) {
      t.fail("lanes." + name + ".quota_rps must be a number >= 0");
      return;
    }
    std::string model;
    t.read("model", model);
    if (l.provider != "simulated" && model.empty()) {
      // Not the primary's model under another lane's name.
      t.fail("lanes." + name + ": a " + l.provider + " lane needs its model");
      return;
    }
    if (!model.empty()) l.bedrock.model_id = l.openai.model = model;
    t.read_ms("latency_median_ms", l.simulated.latency_median);
    t.read_ms("latency_p99_ms", l.simulated.latency_p99);
    t.read("capacity_rps", l.simulated.capacity_rps);
    t.read("chunks", l.simulated.chunks);
    read_lane_settings(t, l.settings, "lanes." + name);
    if (!t.checking()) return;
    cfg.lanes.push_back(std::move(l));
  }
}

void read_cache(core::TomlReader& c, AppConfig& cfg) {
  c.check_keys({"max_entries", "validate_every_s", "validate_sample", "ttl_s"});
  c.read("max_entries", cfg.cache_max_entries);
  c.read_seconds("validate_every_s", cfg.maintenance.validate_every);
  c.read("validate_sample", cfg.maintenance.validate_sample);
  if (auto ttl = c.table("ttl_s")) {
    for (const std::string& k : ttl->keys()) {
      const auto intent = assist::parse_intent(k);
      if (!intent) {
        ttl->fail("cache.ttl_s." + k + ": expected an intent name and whole seconds >= 0");
        return;
      }
      ttl->read_seconds(k, cfg.pipeline.cache_ttl[static_cast<int>(*intent)], 0);
    }
  }
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

// [degradation] ab = { v2 = 50, v3 = 50 }: each key a message version, each value a weight.
void read_degradation(core::TomlReader& d, AppConfig& cfg) {
  d.check_keys({"ab"});
  if (!d.has("ab")) return;
  auto ab = d.table("ab");
  if (!ab) return;  // not a table: the reader kept the error
  std::vector<std::pair<std::string, std::int64_t>> weights;
  for (const std::string& version : ab->keys()) {
    std::int64_t w = 0;
    if (!ab->read(version, w, 0, 1'000'000)) return;
    weights.emplace_back(version, w);
  }
  auto split = assist::DegradationSplit::make(weights, d.name("ab"));
  if (!split.ok()) {
    d.fail(split.error().message);
    return;
  }
  cfg.degradation_ab = std::move(split).value();
}

}  // namespace

// [answer_later]: bounds a client cannot grow past, a ticket that outlives no reasonable
// visit, a lifetime of at least the ticket's.
void read_answer_later(core::TomlReader& a, gateway::AnswerLaterConfig& c) {
  a.check_keys(
      {"enabled", "max_per_user", "max_total", "ticket_ttl_s", "max_wait_s", "retry_interval_ms"});
  a.read("enabled", c.enabled);
  a.read("max_per_user", c.max_per_owner, 1, 100);
  a.read("max_total", c.max_total, 1, 10'000'000);
  a.read_seconds("ticket_ttl_s", c.ticket_ttl, 10, 86'400);
  a.read_seconds("max_wait_s", c.max_wait, 60, 7 * 86'400);
  a.read_ms("retry_interval_ms", c.retry_interval, 100, 60'000);
  if (a.checking() && c.max_wait < c.ticket_ttl) {
    a.fail("answer_later.max_wait_s must be at least ticket_ttl_s");
  }
}

core::Result<toml::table> parse_toml_file(const std::string& path) {
  auto text = core::read_file(path);
  if (!text.ok()) return core::fail("invalid_config", "cannot read " + path);
  if (const std::size_t line = stray_non_ascii_line(*text); line != 0) {
    return core::fail("invalid_config",
                      path + ":" + std::to_string(line) +
                          ": characters outside ASCII are allowed only in strings and comments");
  }
  try {
    return toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    std::string where;
    if (e.source().begin) where = ":" + std::to_string(e.source().begin.line);
    return core::fail("invalid_config", path + where + ": " + std::string(e.description()));
  }
}

core::Status load_toml(const std::string& path, AppConfig& cfg,
                       std::vector<core::Error>* every_error) {
  auto parsed = parse_toml_file(path);
  if (!parsed.ok()) {
    if (every_error != nullptr) every_error->push_back(parsed.error());
    return core::fail(std::move(parsed).error());
  }
  const toml::table& root = *parsed;
  core::TomlReader r(root, "invalid_config", every_error != nullptr);
  r.check_keys({"server", "pipeline", "models", "catalog", "cache", "retry", "admission", "observe",
                "providers", "openai", "bedrock", "fleet", "lanes", "alarms", "web", "answer_later",
                "degradation"});
  if (auto s = r.table("server")) read_server(*s, cfg.server);
  if (auto p = r.table("pipeline")) read_pipeline(*p, cfg.pipeline);
  if (auto t = r.table("retry")) read_retry(*t, cfg);
  if (auto m = r.table("models")) {
    m->check_keys({"sonnet", "haiku"});
    if (auto t = m->table("sonnet"))
      read_model(*t, cfg.sonnet, cfg.sonnet_settings, "models.sonnet");
    if (auto t = m->table("haiku")) read_model(*t, cfg.haiku, cfg.haiku_settings, "models.haiku");
  }
  if (auto a = r.table("admission")) read_admission(*a, cfg);
  if (auto p = r.table("providers")) read_providers(*p, cfg);
  if (auto f = r.table("fleet")) {
    f->check_keys({"redis", "name", "server_id"});
    f->read("redis", cfg.redis_url);
    f->read("name", cfg.fleet_name);
    f->read("server_id", cfg.server_id);
  }
  if (auto b = r.table("bedrock")) read_bedrock(*b, cfg);
  if (auto o = r.table("openai")) read_openai(*o, cfg);
  if (auto lanes = r.tables("lanes"); !lanes.empty()) read_lanes(lanes, cfg);
  if (auto o = r.table("observe")) {
    o->check_keys({"log_file", "log_stdout", "trace_file", "sampling_rules", "otlp_endpoint"});
    o->read("log_file", cfg.log_file);
    o->read("log_stdout", cfg.log_stdout);
    o->read("trace_file", cfg.trace_file);
    o->read("sampling_rules", cfg.sampling_rules);
    o->read("otlp_endpoint", cfg.otlp_endpoint);
  }
  if (auto c = r.table("catalog")) {
    c->check_keys({"data_dir", "db_path"});
    c->read("data_dir", cfg.data_dir);
    c->read("db_path", cfg.db_path);
  }
  if (auto c = r.table("cache")) read_cache(*c, cfg);
  if (auto w = r.table("web")) {
    w->check_keys({"store_base_url"});
    if (w->read("store_base_url", cfg.server.store_base_url) &&
        !cfg.server.store_base_url.empty() && !cfg.server.store_base_url.starts_with("https://") &&
        !cfg.server.store_base_url.starts_with("http://")) {
      w->fail("web.store_base_url must be empty or an absolute http(s) URL");
    }
  }
  if (auto a = r.table("alarms")) {
    a->check_keys({"spend_usd_per_minute"});
    if (a->read("spend_usd_per_minute", cfg.alarms.spend_usd_per_minute) &&
        (!std::isfinite(cfg.alarms.spend_usd_per_minute) || cfg.alarms.spend_usd_per_minute < 0)) {
      a->fail("alarms.spend_usd_per_minute must be US dollars >= 0 (0: off)");
    }
  }
  if (auto a = r.table("answer_later")) read_answer_later(*a, cfg.answer_later);
  if (auto d = r.table("degradation")) read_degradation(*d, cfg);
  if (r.checking()) {
    // An attempt's budget to its first token leaves the deadline room for the next lane.
    for (const LaneSpec& l : model_lanes(cfg)) {
      if (l.settings.policy.first_token >= cfg.pipeline.deadline) {
        r.fail("the first_token_ms of lane " + std::string(l.name()) +
               " must be below pipeline.deadline_ms (0: from its observed latency)");
        break;
      }
    }
  }
  if (every_error != nullptr) {
    every_error->insert(every_error->end(), r.errors().begin(), r.errors().end());
  }
  return r.status();
}

core::Status resolve_environment(AppConfig& cfg, const core::EnvLookup& env) {
  if (auto v = core::env_value(env, "MANGAASSIST_DATA_DIR")) set_data_dir(cfg, *v);
  if (auto v = core::env_value(env, "MANGAASSIST_ADMIN_TOKEN")) cfg.server.admin_token = *v;
  if (auto v = core::env_value(env, "MANGAASSIST_AUTH_SECRET")) {
    // Checked here too, so that the message names the variable rather than the config key.
    if (v->size() < 16) {
      return core::fail("invalid_config",
                        "MANGAASSIST_AUTH_SECRET: the auth secret must be at least 16 bytes");
    }
    cfg.server.auth_secret = *v;
  }
  // The ecosystem's variables win over the file.
  std::vector<fm::OpenAiConfig*> openai = {&cfg.openai_primary, &cfg.openai_secondary};
  for (LaneSpec& l : cfg.lanes) openai.push_back(&l.openai);
  for (fm::OpenAiConfig* o : openai) {
    if (auto v = core::env_value(env, "OPENAI_BASE_URL")) o->base_url = *v;
    if (auto v = core::env_value(env, "OPENAI_API_KEY")) o->api_key = *v;
  }
  if (auto v = core::env_value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    cfg.otlp_endpoint = *v;
  } else if (auto base = core::env_value(env, "OTEL_EXPORTER_OTLP_ENDPOINT")) {
    cfg.otlp_endpoint = *base + "/v1/traces";
  }
  std::vector<std::string> names;
  for (const LaneSpec& l : model_lanes(cfg)) names.emplace_back(l.name());
  auto flags = assist::RuntimeFlags::from_env(env, names);
  if (!flags.ok()) return core::fail(std::move(flags).error());
  cfg.flag_overrides = std::move(flags).value();
  return core::Ok{};
}

std::vector<LaneSpec> model_lanes(const AppConfig& cfg) {
  if (!cfg.lanes.empty()) return cfg.lanes;
  return {LaneSpec{cfg.primary_provider, cfg.sonnet, cfg.bedrock_primary, cfg.openai_primary,
                   cfg.sonnet_quota_rps, cfg.sonnet_settings},
          LaneSpec{cfg.secondary_provider, cfg.haiku, cfg.bedrock_secondary, cfg.openai_secondary,
                   cfg.haiku_quota_rps, cfg.haiku_settings}};
}

assist::LanePolicy LaneSpec::policy() const {
  assist::LanePolicy p = settings.policy;
  // The model id first (what is billed), then the lane's name.
  gateway::ModelPrices list = gateway::default_model_prices(model());
  if (list.input_usd_per_mtok == 0 && list.output_usd_per_mtok == 0) {
    list = gateway::default_model_prices(name());
  }
  p.input_usd_per_mtok = settings.input_usd_per_mtok.value_or(list.input_usd_per_mtok);
  p.output_usd_per_mtok = settings.output_usd_per_mtok.value_or(list.output_usd_per_mtok);
  return p;
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
