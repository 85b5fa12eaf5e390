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
