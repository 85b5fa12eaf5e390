#include "server/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ma::server {
namespace {

using namespace std::chrono_literals;

std::string write_temp(const std::string& text) {
  const auto path =
      std::filesystem::temp_directory_path() / ("ma_cfg_" + std::to_string(::getpid()) + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

// Each TOML text is refused with a message containing its `says`.
void expect_refused(const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& [toml, says] : cases) {
    AppConfig cfg = default_config();
    const auto bad = load_toml(write_temp(toml), cfg);
    ASSERT_FALSE(bad.ok()) << toml;
    EXPECT_NE(bad.error().message.find(says), std::string::npos) << bad.error().message;
  }
}

TEST(ConfigTest, TheShippedConfigFilesLoad) {
  for (const char* f :
       {"/config/default.toml", "/bench/load.toml", "/config/openai-compatible.toml",
        "/config/bedrock.toml", "/tests/browser/browser.toml"}) {
    AppConfig cfg = default_config();
    const auto st = load_toml(std::string(MA_SOURCE_DIR) + f, cfg);
    EXPECT_TRUE(st.ok()) << f << ": " << (st.ok() ? "" : st.error().message);
  }
}

TEST(ConfigTest, DefaultTomlIsTheEmbeddedDefaults) {
  AppConfig file = default_config();
  ASSERT_TRUE(load_toml(std::string(MA_SOURCE_DIR) + "/config/default.toml", file).ok());
  const AppConfig embedded = default_config();
  EXPECT_EQ(file.server.port, embedded.server.port);
  EXPECT_EQ(file.pipeline.deadline, embedded.pipeline.deadline);
  EXPECT_EQ(file.pipeline.stagger_max, embedded.pipeline.stagger_max);
  EXPECT_EQ(file.pipeline.breaker.wait_in_open, embedded.pipeline.breaker.wait_in_open);
  EXPECT_EQ(file.pipeline.retry.max_attempts, embedded.pipeline.retry.max_attempts);
  EXPECT_EQ(file.pipeline.cache_ttl, embedded.pipeline.cache_ttl);
  EXPECT_EQ(file.admission.global_rate, embedded.admission.global_rate);
  EXPECT_EQ(file.admission.plans[0].rate, embedded.admission.plans[0].rate);
  EXPECT_EQ(file.sonnet.latency_median, embedded.sonnet.latency_median);
  EXPECT_EQ(file.redis_url, embedded.redis_url);
  EXPECT_EQ(file.fleet_name, embedded.fleet_name);
  // The trust settings too.
  EXPECT_EQ(file.server.auth_secret_file, embedded.server.auth_secret_file);
  EXPECT_EQ(file.server.session_issue_burst, embedded.server.session_issue_burst);
  EXPECT_EQ(file.server.ws_max_queued_bytes, embedded.server.ws_max_queued_bytes);
  EXPECT_EQ(file.server.ws_idle_timeout, embedded.server.ws_idle_timeout);
  EXPECT_EQ(file.server.ws_send_timeout, embedded.server.ws_send_timeout);
  EXPECT_EQ(file.server.admin_port, embedded.server.admin_port);
  EXPECT_EQ(file.server.store_base_url, embedded.server.store_base_url);
  EXPECT_EQ(file.answer_later.enabled, embedded.answer_later.enabled);
  EXPECT_EQ(file.answer_later.max_per_owner, embedded.answer_later.max_per_owner);
  EXPECT_EQ(file.answer_later.max_total, embedded.answer_later.max_total);
  EXPECT_EQ(file.answer_later.ticket_ttl, embedded.answer_later.ticket_ttl);
  EXPECT_EQ(file.answer_later.max_wait, embedded.answer_later.max_wait);
  EXPECT_EQ(file.answer_later.retry_interval, embedded.answer_later.retry_interval);
}

TEST(ConfigTest, AnswerLaterIsReadAndValidated) {
  AppConfig cfg = default_config();
  ASSERT_TRUE(load_toml(write_temp("[answer_later]\nenabled = false\nmax_per_user = 5\n"
                                   "max_total = 200\nticket_ttl_s = 300\nmax_wait_s = 3600\n"
                                   "retry_interval_ms = 500\n"),
                        cfg)
                  .ok());
  EXPECT_FALSE(cfg.answer_later.enabled);
  EXPECT_EQ(cfg.answer_later.max_per_owner, 5u);
  EXPECT_EQ(cfg.answer_later.max_total, 200u);
  EXPECT_EQ(cfg.answer_later.ticket_ttl, std::chrono::seconds(300));
  EXPECT_EQ(cfg.answer_later.max_wait, std::chrono::hours(1));
  EXPECT_EQ(cfg.answer_later.retry_interval, std::chrono::milliseconds(500));
  for (const char* bad :
       {"max_per_user = 0", "max_per_user = 1000", "max_total = 0", "ticket_ttl_s = 1",
        "max_wait_s = 10", "retry_interval_ms = 5", "enabled = \"yes\"",
        "ticket_ttl_s = 7200\nmax_wait_s = 3600", "per_user = 3"}) {
    AppConfig c = default_config();
    const auto st = load_toml(write_temp(std::string("[answer_later]\n") + bad + "\n"), c);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.error().message.find("answer_later"), std::string::npos) << st.error().message;
  }
}

TEST(ConfigTest, UnknownKeysAndBadValuesAreErrors) {
  AppConfig cfg = default_config();
  auto st = load_toml(write_temp("[server]\nprot = 80\n"), cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("server.prot"), std::string::npos);
  EXPECT_FALSE(load_toml(write_temp("[retry]\njitter = \"lots\"\n"), cfg).ok());
  EXPECT_FALSE(load_toml(write_temp("[cache.ttl_s]\nprices = 10\n"), cfg).ok());
  EXPECT_FALSE(load_toml(write_temp("this is not toml"), cfg).ok());
  EXPECT_FALSE(load_toml("/nonexistent.toml", cfg).ok());
  st =
      load_toml(write_temp("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"lb.internal\"]\n"), cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("'lb.internal'"), std::string::npos) << st.error().message;
  EXPECT_FALSE(load_toml(write_temp("[server]\ntrusted_proxies = \"10.0.0.0/8\"\n"), cfg).ok());
  EXPECT_FALSE(load_toml(write_temp("[server]\ntrusted_proxies = [8]\n"), cfg).ok());
  // At most 16 lanes (the cascade's set of lanes tried is 64 bits; far fewer make sense).
  std::string lanes;
  for (int i = 0; i < 17; ++i)
    lanes += "[[lanes]]\nname = \"l" + std::to_string(i) + "\"\nprovider = \"simulated\"\n";
  AppConfig many = default_config();
  st = load_toml(write_temp(lanes), many);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("at most 16 lanes"), std::string::npos) << st.error().message;
}

TEST(ConfigTest, TheStoreBaseUrlIsEmptyOrAnAbsoluteHttpUrl) {
  AppConfig cfg = default_config();
  EXPECT_EQ(cfg.server.store_base_url, "");
  ASSERT_TRUE(
      load_toml(write_temp("[web]\nstore_base_url = \"https://store.example.jp\"\n"), cfg).ok());
  EXPECT_EQ(cfg.server.store_base_url, "https://store.example.jp");
  auto st = load_toml(write_temp("[web]\nstore_base_url = \"store.example.jp\"\n"), cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("store_base_url"), std::string::npos) << st.error().message;
  st = load_toml(write_temp("[web]\nstore_url = \"https://x\"\n"), cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("web.store_url"), std::string::npos) << st.error().message;
}

TEST(ConfigTest, TrustedProxiesLoad) {
  AppConfig cfg = default_config();
  // By default no proxy is trusted: the header is the client's word, the peer is the client.
  EXPECT_EQ(cfg.server.trusted_proxies.client_of("10.3.3.3", {"198.51.100.7"}), "10.3.3.3");
  ASSERT_TRUE(
      load_toml(write_temp("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"fd00::/8\"]\n"), cfg)
          .ok());
  EXPECT_EQ(cfg.server.trusted_proxies.client_of("10.3.3.3", {"198.51.100.7"}), "198.51.100.7");
  EXPECT_EQ(cfg.server.trusted_proxies.client_of("fd00::1", {"198.51.100.7"}), "198.51.100.7");
}

TEST(ConfigTest, OverridesApply) {
  AppConfig cfg = default_config();
  ASSERT_TRUE(load_toml(write_temp("[cache.ttl_s]\npricing = 60\n[admission.premium]\nrate = 9\n"
                                   "[pipeline]\ndeadline_ms = 2500\n"),
                        cfg)
                  .ok());
  EXPECT_EQ(cfg.pipeline.cache_ttl[static_cast<int>(assist::Intent::kPricing)], 60s);
  EXPECT_EQ(cfg.admission.plans[2].rate, 9);
  EXPECT_EQ(cfg.pipeline.deadline, 2500ms);
}

TEST(ConfigTest, PlansMayCarryADailyTokenBudget) {
  AppConfig cfg = default_config();
  EXPECT_EQ(cfg.admission.plans[1].daily_tokens, 0);  // none unless configured
  ASSERT_TRUE(load_toml(write_temp("[admission]\ntoken_estimate = 600\n"
                                   "[admission.registered]\ntokens_per_day = 50000\n"
                                   "[admission.premium]\ntokens_per_day = 0\n"),
                        cfg)
                  .ok());
  EXPECT_EQ(cfg.admission.token_estimate, 600);
  EXPECT_EQ(cfg.admission.plans[1].daily_tokens, 50000);
  EXPECT_EQ(cfg.admission.plans[2].daily_tokens, 0);
  for (const auto& [body, message] : std::initializer_list<std::pair<const char*, const char*>>{
           {"[admission.registered]\ntokens_per_day = -1\n", "admission.registered.tokens_per_day"},
           {"[admission]\ntoken_estimate = 0\n", "admission.token_estimate"},
           {"[admission.premium]\ntokens_per_day = 100\n",
            "admission.premium.tokens_per_day must be 0 or at least admission.token_estimate"},
           // A source is not a user: it has no token budget.
           {"[admission.per_source]\ntokens_per_day = 1000\n",
            "unknown key admission.per_source.tokens_per_day"},
       }) {
    AppConfig c = default_config();
    const auto st = load_toml(write_temp(body), c);
    ASSERT_FALSE(st.ok()) << body;
    EXPECT_EQ(st.error().message.rfind(message, 0), 0u) << st.error().message;
  }
}

TEST(ConfigTest, EventsCalendarLoads) {
  auto ev = load_events(std::string(MA_SOURCE_DIR) + "/data/events.json");
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].global_rate, 4500);
  EXPECT_EQ((*ev)[0].end - (*ev)[0].prescale_from, 6h);
}

TEST(ConfigTest, ProvidersArePerTier) {
  AppConfig cfg = default_config();
  ASSERT_TRUE(load_toml(std::string(MA_SOURCE_DIR) + "/config/bedrock.toml", cfg).ok());
  EXPECT_EQ(cfg.primary_provider, "bedrock");
  EXPECT_EQ(cfg.bedrock_primary.model_id, "anthropic.claude-3-sonnet-20240229-v1:0");
  EXPECT_EQ(cfg.bedrock_secondary.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
  AppConfig mixed = default_config();
  ASSERT_TRUE(load_toml(write_temp("[providers]\nprimary = \"openai\"\n"), mixed).ok());
  EXPECT_EQ(mixed.primary_provider, "openai");
  EXPECT_EQ(mixed.secondary_provider, "simulated");
  AppConfig bad = default_config();
  const auto st = load_toml(write_temp("[providers]\nsecondary = \"gemini\"\n"), bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("gemini"), std::string::npos);
}

}  // namespace
}  // namespace ma::server

namespace ma::server {
namespace {

TEST(ConfigTest, NonAsciiOutsideStringsAndCommentsIsRefusedNotParsed) {
  AppConfig cfg = default_config();
  // toml++ 3.3 reaches undefined behaviour on this (tests/fuzz/corpus/config/known-*).
  auto st = load_toml(write_temp("[server]\nport = 39é\n"), cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(":2:"), std::string::npos) << st.error().message;
  // In strings and comments it is fine.
  st = load_toml(write_temp("# 設定\n[server]\nadmin_token = \"秘密の-token\" # 管理者\n"
                            "auth_secret = '''\n長い秘密の文字列です\n'''\n"),
                 cfg);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(cfg.server.admin_token, "秘密の-token");
}

TEST(ConfigTest, EventsWithAbsurdTimesOrLeadsAreRefused) {
  for (
      const char* body :
      {R"({"events":[{"name":"x","start":"1013-01-01T00:00:00Z","end":"2026-01-01T00:00:00Z","global_rate":1}]})",
       R"({"events":[{"name":"x","start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z","global_rate":1,"prescale_hours_before":1e300}]})"}) {
    EXPECT_FALSE(load_events(write_temp(body)).ok()) << body;
  }
}

}  // namespace
}  // namespace ma::server

namespace ma::server {
namespace {

TEST(ConfigTest, ValuesOfTheWrongTypeAreErrorsNamingTheKey) {
  for (const auto& [body, key] : std::initializer_list<std::pair<const char*, const char*>>{
           {"[server]\nport = \"8080\"\n", "server.port"},
           {"[server]\nport = 70000\n", "server.port"},
           {"[observe]\nlog_stdout = 1\n", "observe.log_stdout"},
           {"[pipeline]\ndeadline_ms = 2.5\n", "pipeline.deadline_ms"},
           {"[admission]\nglobal_rate = \"fast\"\n", "admission.global_rate"},
           {"[cache]\nmax_entries = -1\n", "cache.max_entries"},
           {"[cache.ttl_s]\npricing = \"1m\"\n", "cache.ttl_s.pricing"},
           {"[server]\nallowed_origins = [1]\n", "server.allowed_origins"},
           {"server = 8080\n", "server"},
       }) {
    AppConfig cfg = default_config();
    const auto st = load_toml(write_temp(body), cfg);
    ASSERT_FALSE(st.ok()) << body;
    EXPECT_EQ(st.error().code, "invalid_config");
    EXPECT_EQ(st.error().message.rfind(key, 0), 0u) << st.error().message;
  }
}

TEST(ConfigTest, WholeNumbersAndFloatsAreReadAsBefore) {
  AppConfig cfg = default_config();
  // Integers where floats are expected, and the documented ranges' ends.
  ASSERT_TRUE(load_toml(write_temp("[admission]\nglobal_rate = 100\n[server]\nadmin_port = 0\n"
                                   "session_issue_rate = 2\n[models.sonnet]\ncapacity_rps = 7\n"),
                        cfg)
                  .ok());
  EXPECT_EQ(cfg.admission.global_rate, 100.0);
  EXPECT_FALSE(cfg.server.admin_port.has_value());
  EXPECT_EQ(cfg.server.session_issue_rate, 2.0);
  EXPECT_EQ(cfg.sonnet.capacity_rps, 7.0);
  ASSERT_TRUE(load_toml(write_temp("[server]\nadmin_port = 9090\n"), cfg).ok());
  EXPECT_EQ(cfg.server.admin_port, 9090);
  auto st = load_toml(write_temp("[server]\nadmin_port = 65536\n"), cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "server.admin_port must be 0-65535");
  st = load_toml(write_temp("[server]\nws_max_queued_bytes = 1024\n"), cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "server.ws_max_queued_bytes must be >= 16384");
}

TEST(ConfigTest, TheEnvironmentOverridesTheFile) {
  AppConfig cfg = default_config();
  cfg.server.admin_token = "from-file";
  cfg.otlp_endpoint = "http://file:4318/v1/traces";
  ASSERT_TRUE(
      resolve_environment(cfg, core::fixed_env({{"MANGAASSIST_ADMIN_TOKEN", "from-env"},
                                                {"MANGAASSIST_AUTH_SECRET", "0123456789abcdef"},
                                                {"OPENAI_BASE_URL", "http://llm:8000/v1"},
                                                {"OPENAI_API_KEY", "sk-test"},
                                                {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"},
                                                {"RETRY_MAX_ATTEMPTS", "0"},
                                                {"FM_MODE", "cache_only"}}))
          .ok());
  EXPECT_EQ(cfg.server.admin_token, "from-env");
  EXPECT_EQ(cfg.server.auth_secret, "0123456789abcdef");
  for (const fm::OpenAiConfig* o : {&cfg.openai_primary, &cfg.openai_secondary}) {
    EXPECT_EQ(o->base_url, "http://llm:8000/v1");
    EXPECT_EQ(o->api_key, "sk-test");
  }
  EXPECT_EQ(cfg.openai_primary.lane, "sonnet");
  EXPECT_EQ(cfg.otlp_endpoint, "http://otel:4318/v1/traces");
  EXPECT_EQ(cfg.flag_overrides,
            (boost::json::object{{"RETRY_MAX_ATTEMPTS", "0"}, {"FM_MODE", "cache_only"}}));
}

TEST(ConfigTest, TheTracesEndpointWinsOverTheBaseEndpoint) {
  AppConfig cfg = default_config();
  ASSERT_TRUE(resolve_environment(
                  cfg, core::fixed_env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"},
                                        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/x"}}))
                  .ok());
  EXPECT_EQ(cfg.otlp_endpoint, "http://t:1/x");
  // An empty traces variable counts as unset: the base one applies.
  ASSERT_TRUE(
      resolve_environment(cfg, core::fixed_env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"},
                                                {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""}}))
          .ok());
  EXPECT_EQ(cfg.otlp_endpoint, "http://base:4318/v1/traces");
}

TEST(ConfigTest, AnEmptyOrAbsentEnvironmentKeepsTheFile) {
  AppConfig cfg = default_config();
  cfg.server.admin_token = "from-file";
  cfg.server.auth_secret = "file-secret-0123456789";
  cfg.otlp_endpoint = "http://file:4318/v1/traces";
  cfg.openai_primary.base_url = "http://file/v1";
  ASSERT_TRUE(resolve_environment(cfg, core::fixed_env({{"MANGAASSIST_ADMIN_TOKEN", ""},
                                                        {"MANGAASSIST_AUTH_SECRET", ""},
                                                        {"OPENAI_BASE_URL", ""},
                                                        {"RETRY_MAX_ATTEMPTS", ""}}))
                  .ok());
  EXPECT_EQ(cfg.server.admin_token, "from-file");
  EXPECT_EQ(cfg.server.auth_secret, "file-secret-0123456789");
  EXPECT_EQ(cfg.otlp_endpoint, "http://file:4318/v1/traces");
  EXPECT_EQ(cfg.openai_primary.base_url, "http://file/v1");
  EXPECT_TRUE(cfg.flag_overrides.empty());
}

TEST(ConfigTest, BadEnvironmentValuesAreNamed) {
  AppConfig cfg = default_config();
  auto st = resolve_environment(cfg, core::fixed_env({{"RETRY_MAX_ATTEMPTS", "eleven"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "invalid_flag");
  EXPECT_EQ(st.error().message, "RETRY_MAX_ATTEMPTS must be 0-10");
  st = resolve_environment(cfg, core::fixed_env({{"PRIMARY_MODEL", "opus"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "PRIMARY_MODEL must be sonnet or haiku");
  st = resolve_environment(cfg, core::fixed_env({{"MANGAASSIST_AUTH_SECRET", "short"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "invalid_config");
  EXPECT_NE(st.error().message.find("MANGAASSIST_AUTH_SECRET"), std::string::npos);
}

}  // namespace
}  // namespace ma::server

namespace ma::server {
namespace {

TEST(ConfigTest, LanesListTheModelsInCascadeOrder) {
  AppConfig cfg = default_config();
  // Without [[lanes]]: the two the legacy keys describe.
  auto legacy = model_lanes(cfg);
  ASSERT_EQ(legacy.size(), 2u);
  EXPECT_EQ(legacy[0].name(), "sonnet");
  EXPECT_EQ(legacy[1].name(), "haiku");
  EXPECT_EQ(legacy[1].quota_rps, cfg.haiku_quota_rps);

  const auto path = write_temp(R"(
[bedrock]
region = "ap-northeast-1"
[[lanes]]
name = "sonnet"
[[lanes]]
name = "nova"
provider = "bedrock"
model = "amazon.nova-pro-v1:0"
quota_rps = 40
[[lanes]]
name = "haiku"
latency_median_ms = 300
)");
  ASSERT_TRUE(load_toml(path, cfg).ok());
  const auto lanes = model_lanes(cfg);
  ASSERT_EQ(lanes.size(), 3u);
  EXPECT_EQ(lanes[1].name(), "nova");
  EXPECT_EQ(lanes[1].provider, "bedrock");
  EXPECT_EQ(lanes[1].bedrock.model_id, "amazon.nova-pro-v1:0");
  EXPECT_EQ(lanes[1].bedrock.region, "ap-northeast-1");  // from [bedrock]
  EXPECT_EQ(lanes[1].quota_rps, 40);
  EXPECT_EQ(lanes[2].simulated.latency_median, 300ms);
  // PRIMARY_MODEL may name any configured lane, and only those.
  EXPECT_TRUE(resolve_environment(cfg, core::fixed_env({{"PRIMARY_MODEL", "nova"}})).ok());
  const auto st = resolve_environment(cfg, core::fixed_env({{"PRIMARY_MODEL", "opus"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "PRIMARY_MODEL must be sonnet, nova or haiku");

  expect_refused({{"[[lanes]]\nprovider = \"simulated\"\n", "needs a name"},
                  {"[[lanes]]\nname = \"all\"\n", "not \"all\""},
                  {"[[lanes]]\nname = \"a,b\"\n", "letters, digits"},
                  {"[[lanes]]\nname = \"nova\"\nquota_rps = -1\n", "quota_rps must be"},
                  {"[[lanes]]\nname = \"nova\"\nprovider = \"bedrock\"\n", "needs its model"}});
}

}  // namespace
}  // namespace ma::server

namespace ma::server {
namespace {

TEST(ConfigTest, LaneSettingsPricesHedgingAndTheSpendAlarm) {
  AppConfig cfg = default_config();
  // Unconfigured: the list prices by name or model id, for the legacy lanes too.
  auto legacy = model_lanes(cfg);
  ASSERT_EQ(legacy.size(), 2u);
  EXPECT_EQ(legacy[0].policy().input_usd_per_mtok, 3.0);
  EXPECT_EQ(legacy[0].policy().output_usd_per_mtok, 15.0);
  EXPECT_EQ(legacy[1].policy().input_usd_per_mtok, 0.25);
  EXPECT_EQ(legacy[1].policy().output_usd_per_mtok, 1.25);
  EXPECT_EQ(cfg.alarms.spend_usd_per_minute, 0);  // off

  const auto path = write_temp(R"(
[pipeline]
hedge = true
hedge_after_ms = 800
hedge_min_delay_ms = 50
limiter_floor_share = 0.2
misconfigured_after = 5
probe_interval_ms = 2000
[models.haiku]
first_token_ms = 700
output_usd_per_mtok = 4.0
[alarms]
spend_usd_per_minute = 2.5
[[lanes]]
name = "primary"
provider = "bedrock"
model = "anthropic.claude-3-5-sonnet-20241022-v2:0"
first_token_ms = 900
idle_ms = 400
continue_on_fallback = true
[[lanes]]
name = "nova"
provider = "bedrock"
model = "amazon.nova-pro-v1:0"
input_usd_per_mtok = 0.8
output_usd_per_mtok = 3.2
[[lanes]]
name = "haiku"
)");
  ASSERT_TRUE(load_toml(path, cfg).ok());
  EXPECT_TRUE(cfg.pipeline.hedge.enabled);
  EXPECT_EQ(cfg.pipeline.hedge.after, 800ms);
  EXPECT_EQ(cfg.pipeline.hedge.min_delay, 50ms);
  EXPECT_EQ(cfg.pipeline.limiter_floor_share, 0.2);
  EXPECT_EQ(cfg.pipeline.misconfigured_after, 5);
  EXPECT_EQ(cfg.pipeline.probe_interval, 2000ms);
  EXPECT_EQ(cfg.alarms.spend_usd_per_minute, 2.5);
  EXPECT_EQ(cfg.haiku_settings.policy.first_token, 700ms);
  EXPECT_EQ(cfg.haiku_settings.output_usd_per_mtok, 4.0);

  const auto lanes = model_lanes(cfg);
  ASSERT_EQ(lanes.size(), 3u);
  const assist::LanePolicy primary = lanes[0].policy();
  EXPECT_EQ(primary.first_token, 900ms);
  EXPECT_EQ(primary.idle, 400ms);
  EXPECT_TRUE(primary.continue_on_fallback);
  EXPECT_EQ(primary.input_usd_per_mtok, 3.0);  // by its model id: a Sonnet
  EXPECT_EQ(primary.output_usd_per_mtok, 15.0);
  EXPECT_EQ(lanes[1].policy().input_usd_per_mtok, 0.8);  // configured
  EXPECT_EQ(lanes[1].policy().output_usd_per_mtok, 3.2);
  EXPECT_EQ(lanes[1].policy().idle, assist::LanePolicy{}.idle);
  EXPECT_EQ(lanes[2].policy().input_usd_per_mtok, 0.25);  // by its name
  EXPECT_FALSE(lanes[2].policy().continue_on_fallback);

  expect_refused(
      {{"[pipeline]\nlimiter_floor_share = 1.5\n", "limiter_floor_share"},
       {"[pipeline]\nmisconfigured_after = 0\n", "misconfigured_after"},
       {"[pipeline]\nprobe_interval_ms = 10\n", "probe_interval_ms"},
       {"[pipeline]\nhedge_after_ms = 0\n", "hedge_after_ms"},
       {"[pipeline]\nhedge_after_ms = 100\nhedge_min_delay_ms = 200\n", "hedge_min_delay_ms"},
       {"[pipeline]\nhedge_after_ms = 5000\n", "below deadline_ms"},
       {"[pipeline]\nhedge = \"yes\"\n", "pipeline.hedge"},
       {"[alarms]\nspend_usd_per_minute = -1\n", "spend_usd_per_minute"},
       {"[alarms]\nspend_per_minute = 1\n", "alarms.spend_per_minute"},
       {"[models.sonnet]\nidle_ms = 0\n", "idle_ms"},
       {"[models.sonnet]\nfirst_token_ms = 3000\n", "first_token_ms of lane sonnet"},
       {"[models.sonnet]\ninput_usd_per_mtok = -3\n", "models.sonnet.input_usd_per_mtok"},
       {"[[lanes]]\nname = \"nova\"\noutput_usd_per_mtok = \"cheap\"\n", "output_usd_per_mtok"},
       {"[[lanes]]\nname = \"nova\"\ncontinue_on_fallback = 1\n", "continue_on_fallback"}});
}

TEST(ConfigTest, TheDegradationExperimentTakesSafeVersionsWithSaneWeights) {
  AppConfig cfg = default_config();
  EXPECT_TRUE(cfg.degradation_ab.empty());
  ASSERT_TRUE(load_toml(write_temp("[degradation]\nab = { v2 = 50, v3 = 50 }\n"), cfg).ok());
  ASSERT_EQ(cfg.degradation_ab.weights().size(), 2u);
  EXPECT_EQ(cfg.degradation_ab.weights()[1],
            std::make_pair(assist::DegradationVersion::kV3, std::int64_t{50}));
  // Empty and absent: no experiment (the flag decides).
  AppConfig none = default_config();
  ASSERT_TRUE(load_toml(write_temp("[degradation]\nab = {}\n"), none).ok());
  EXPECT_TRUE(none.degradation_ab.empty());
  ASSERT_TRUE(load_toml(write_temp("[degradation]\n"), none).ok());
  EXPECT_TRUE(none.degradation_ab.empty());
  expect_refused({
      {"[degradation]\nab = { v1 = 50, v2 = 50 }\n",
       "degradation.ab: v1 is the seed's banned message"},
      {"[degradation]\nab = { v2 = 50, v7 = 50 }\n",
       "degradation.ab: unknown degradation message version \"v7\""},
      {"[degradation]\nab = { v2 = -1, v3 = 5 }\n", "degradation.ab.v2"},
      {"[degradation]\nab = { v2 = 0.5 }\n", "degradation.ab.v2"},
      {"[degradation]\nab = { v2 = 0, v3 = 0 }\n", "add up to 0"},
      {"[degradation]\nab = \"v2\"\n", "degradation.ab"},
      {"[degradation]\nsplit = { v2 = 1 }\n", "degradation.split"},
  });
}

}  // namespace
}  // namespace ma::server
