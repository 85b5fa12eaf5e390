#pragma once
// The service configuration: embedded defaults, overridden by a TOML file
// (config/default.toml documents every key), then by the environment (resolve_environment)
// and then by command-line options.

#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "admission/admission.hpp"
#include "assist/cache_maintenance.hpp"
#include "assist/degradation_split.hpp"
#include "assist/pipeline.hpp"
#include "core/env.hpp"
#include "core/result.hpp"
#include "fm/bedrock_runtime.hpp"
#include "fm/openai_compatible.hpp"
#include "fm/simulated_bedrock.hpp"
#include "gateway/answer_later.hpp"
#include "observe/alarms.hpp"
#include "server/client_address.hpp"

namespace ma::server {

struct ServerConfig {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8080;
  int threads = 0;          // 0: one per core
  std::string admin_token;  // empty: admin API disabled (MANGAASSIST_ADMIN_TOKEN overrides)
  std::size_t body_limit = 16 * 1024;
  std::size_t max_message_chars = 2000;
  core::Duration header_timeout = std::chrono::seconds(10);
  core::Duration idle_timeout = std::chrono::seconds(30);
  core::Duration shutdown_grace = std::chrono::seconds(5);
  std::string web_dir;  // chat page and dashboard
  // The load balancers in front of this server, whose X-Forwarded-For entries name the
  // client (per-source limits, anonymous visitors). Empty: clients connect directly.
  TrustedProxies trusted_proxies;

  // Identity (server/identity.hpp): the secret that signs user tokens and anonymous
  // sessions. MANGAASSIST_AUTH_SECRET overrides; empty: read from (or created in)
  // auth_secret_file.
  std::string auth_secret;
  std::string auth_secret_file = "var/auth.secret";
  // New anonymous sessions per source: a client that discards its session cannot mint
  // itself fresh per-visitor buckets faster than this.
  double session_issue_rate = 0.5;  // per second
  double session_issue_burst = 20;
  // Pages whose scripts may open /v1/ws, besides this server's own origin (the Host the
  // browser connected to). Anything else gets 403 (cross-site WebSocket hijacking).
  std::vector<std::string> allowed_origins;
  // WebSocket: what may wait unsent for one client before it is cut (1009 / 1008), pings
  // every ws_ping_interval, and a connection with no message for ws_idle_timeout is closed.
  std::size_t ws_max_queued_bytes = 1 << 20;
  core::Duration ws_ping_interval = std::chrono::seconds(20);
  core::Duration ws_idle_timeout = std::chrono::seconds(300);
  core::Duration ws_send_timeout = std::chrono::seconds(10);  // no progress writing: cut
  // Open connections at most (HTTP and WebSocket); over it the oldest idle keep-alive
  // connection is shed, or the new one refused. 0: from RLIMIT_NOFILE (minus a reserve).
  std::size_t max_connections = 0;
  // /metrics, /status and the admin API on a separate listener (e.g. 127.0.0.1:9090, for
  // Prometheus and operators); none (TOML: 0): only on the main port, where /metrics and
  // /status then need the admin token. Port 0 here binds any free port (tests).
  std::optional<std::uint16_t> admin_port;
  std::string admin_host = "127.0.0.1";
  // [web] store_base_url: where the action links of a reply point. Empty: this server's own
  // pages (/series/..., /orders, /help, /status; server/pages.hpp). Else an absolute
  // http(s) URL: every link becomes <store_base_url><path>?lang=.., the store's own site.
  std::string store_base_url;
};

// A provider configuration serving `lane`.
template <class ProviderConfig>
ProviderConfig lane_of(ProviderConfig c, std::string lane) {
  c.lane = std::move(lane);
  return c;
}

// A lane's own settings ([[lanes]], or [models.sonnet] / [models.haiku] for the two legacy
// lanes): its attempt budgets, continue_on_fallback and its prices. A price not configured
// is the model's list price (gateway::default_model_prices), by the lane's name or model id.
struct LaneSettings {
  assist::LanePolicy policy;  // its prices are ignored: see the two below
  std::optional<double> input_usd_per_mtok;
  std::optional<double> output_usd_per_mtok;
};

// One model lane of the cascade. Its name (the simulated model's, or `lane` of the real
// providers' configs) is what PRIMARY_MODEL, /status, /admin/chaos and the metrics use.
struct LaneSpec {
  std::string provider = "simulated";  // simulated | bedrock | openai
  fm::SimModelSpec simulated;
  fm::BedrockConfig bedrock;
  fm::OpenAiConfig openai;
  double quota_rps = 2500;  // requests/s this server may send it (admission feeds as much)
  LaneSettings settings;

  std::string_view name() const {
    return provider == "bedrock"  ? bedrock.lane
           : provider == "openai" ? openai.lane
                                  : simulated.name;
  }
  // The model it calls: the Bedrock model id, the OpenAI model name, or the simulated
  // model's name.
  std::string_view model() const {
    return provider == "bedrock"  ? std::string_view(bedrock.model_id)
           : provider == "openai" ? std::string_view(openai.model)
                                  : std::string_view(simulated.name);
  }
  // settings.policy with its prices: as configured, else the list price of the model its
  // name or model id names (0 when neither names a known model).
  assist::LanePolicy policy() const;
};

struct AppConfig {
  ServerConfig server;
  assist::PipelineConfig pipeline;
  fm::SimModelSpec sonnet{.name = "sonnet"};
  fm::SimModelSpec haiku{.name = "haiku",
                         .latency_median = std::chrono::milliseconds(450),
                         .latency_p99 = std::chrono::milliseconds(1100)};
  // Which provider serves each cascade lane: "simulated" (the default), "bedrock" (AWS
  // Bedrock Runtime) or "openai" (any OpenAI-compatible endpoint). The primary lane is the
  // one called "sonnet" in flags and metrics, the secondary "haiku".
  // The two legacy lanes' own settings ([models.sonnet] and [models.haiku]).
  LaneSettings sonnet_settings;
  LaneSettings haiku_settings;
  std::string primary_provider = "simulated";
  std::string secondary_provider = "simulated";
  fm::OpenAiConfig openai_primary = lane_of(fm::OpenAiConfig{}, "sonnet");
  fm::OpenAiConfig openai_secondary = lane_of(fm::OpenAiConfig{}, "haiku");
  fm::BedrockConfig bedrock_primary = lane_of(fm::BedrockConfig{}, "sonnet");
  fm::BedrockConfig bedrock_secondary =
      lane_of(fm::BedrockConfig{.model_id = "anthropic.claude-3-haiku-20240307-v1:0"}, "haiku");
  std::string data_dir;
  std::string db_path = "var/mangaassist.db";
  std::size_t cache_max_entries = 100'000;
  assist::MaintenanceConfig maintenance{};
  int retry_budget_per_minute = 100;  // fleet-wide in fleet mode
  // Fleet mode: the servers share state through this Redis (redis://host:port[/db]); empty:
  // in-process state, this server alone.
  std::string redis_url;
  std::string fleet_name = "mangaassist";  // servers with the same name share state
  std::string server_id;                   // empty: host-pid-random
  admission::AdmissionConfig admission{};
  // Requests/s each model may take (its Bedrock quota); the dynamic global limit stays under
  // their sum, or under the adaptive limiters' rates once they have seen throttles.
  double sonnet_quota_rps = 2500;
  double haiku_quota_rps = 2500;
  // [[lanes]]: the model lanes in cascade order, for a third model or another vendor; each
  // takes name, provider, quota_rps, the simulated model's keys and `model` (the Bedrock
  // model id or the OpenAI model name; the rest from [bedrock] / [openai]). Empty: the two
  // lanes above (model_lanes).
  std::vector<LaneSpec> lanes;
  std::string events_file;  // scheduled events (JSON); default data/events.json
  // Observability: one JSON line per request (never sampled), kept traces, sampling rules.
  std::string log_file = "var/requests.log";
  bool log_stdout = false;
  std::string trace_file = "var/traces.jsonl";
  std::string sampling_rules;  // X-Ray local rules file; empty: 1/s then 5%
  // OTLP/HTTP JSON collector, e.g. http://127.0.0.1:4318/v1/traces; empty: none. The
  // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_ENDPOINT variables override it.
  std::string otlp_endpoint;
  std::uint64_t seed = 0;  // 0: seeded from the OS
  // Keep cached answers across a price or stock change (no invalidation: seed incident 3's
  // gateway). True ONLY to replay incident 3 on the real server (tests/integration/
  // stale_price_report_test.cpp, with PipelineConfig::price_guard off): deliberately not read
  // from TOML, the environment or the command line, so no deployment can set it.
  bool replay_incident3_keep_cache_on_price_change = false;
  // [alarms]: thresholds of the alarms that take one (observe/alarms.hpp).
  observe::AlarmConfig alarms{};
  // [answer_later]: the questions users leave on a degraded reply (gateway/answer_later.hpp).
  gateway::AnswerLaterConfig answer_later{};
  // [degradation] ab = { v2 = 50, v3 = 50 }: the degradation-message experiment, version ->
  // weight (assist/degradation_split.hpp); empty: none, DEGRADATION_MESSAGE_VERSION decides.
  assist::DegradationSplit degradation_ab{};
  // The runtime flags the environment sets (assist/flags.hpp: RETRY_MAX_ATTEMPTS,
  // PRIMARY_MODEL, FM_MODE, DEGRADATION_MESSAGE_VERSION), validated, as
  // RuntimeFlags::patch takes them; they win over retry.max_attempts. Empty: none set.
  boost::json::object flag_overrides;
};

// Reads the scheduled events calendar (prescaling of the global limit).
core::Result<std::vector<admission::ScheduledEvent>> load_events(const std::string& path);

// Where the catalog's data, the web pages and the scenarios are: found from the binary,
// never through the path of the source it was built from (so an installed or copied tree
// works from any directory):
//  - installed: PREFIX/bin/mangaassist beside PREFIX/share/mangaassist/{data,web,scenarios};
//  - a build tree: the first directory holding data/manga_series.jsonl, from the binary's
//    own directory up to three levels (build/mangaassist, build/src/ma_server_test).
// Empty strings when neither is found: --data-dir or MANGAASSIST_DATA_DIR must say.
struct ShareDirs {
  std::string data, web, scenarios;
};
ShareDirs find_share_dirs(const std::filesystem::path& exe);
ShareDirs find_share_dirs();  // of this process (/proc/self/exe)
// Sets the data directory, and the events calendar in it unless another file was named.
void set_data_dir(AppConfig& c, const std::string& dir);
// Defaults with the data and web directories found beside the binary (find_share_dirs).
AppConfig default_config();
// Applies a TOML file over `cfg`. Unknown keys are errors (a typo must not pass silently).
// The first error is returned; with `every_error`, reading goes on past it and every error
// found is appended there (check-config).
core::Status load_toml(const std::string& path, AppConfig& cfg,
                       std::vector<core::Error>* every_error = nullptr);

// Applies over `cfg` what the environment overrides (a variable set to "" counts as unset):
//   MANGAASSIST_ADMIN_TOKEN             server.admin_token
//   MANGAASSIST_DATA_DIR                data_dir (and the events calendar in it: set_data_dir)
//   MANGAASSIST_AUTH_SECRET             server.auth_secret (>= 16 bytes, as resolve_auth_secret
//                                       requires; the secret file is then not read)
//   OPENAI_BASE_URL, OPENAI_API_KEY     base_url and api_key of both openai lanes
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  otlp_endpoint, as is; else
//   OTEL_EXPORTER_OTLP_ENDPOINT         otlp_endpoint = it + "/v1/traces"
//   RETRY_MAX_ATTEMPTS, PRIMARY_MODEL,  flag_overrides (RuntimeFlags::from_env)
//   FM_MODE, DEGRADATION_MESSAGE_VERSION
// Call it once, after load_toml, with core::process_env() (tests: core::fixed_env). An error
// names the variable: "invalid_flag" for a flag's value, "invalid_config" for a short secret.
// The AWS variables are not here: fm::resolve_aws_auth and friends take the lookup itself.
core::Status resolve_environment(AppConfig& cfg, const core::EnvLookup& env);

// The model lanes in cascade order: `lanes` when configured, else the primary ("sonnet") and
// the secondary ("haiku") from [providers], [models.*], [bedrock], [openai] and the
// [admission] quotas.
std::vector<LaneSpec> model_lanes(const AppConfig& cfg);

}  // namespace ma::server
