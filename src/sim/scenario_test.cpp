#include "sim/scenario.hpp"

#include <gtest/gtest.h>

namespace ma::sim {
namespace {

// The message of a scenario that must be refused ("" when it loads).
std::string refusal(const std::string& toml) {
  auto s = parse_scenario(toml, "t.toml");
  if (s.ok()) return "";
  EXPECT_EQ(s.error().code, "invalid_scenario");
  return s.error().message;
}

TEST(ScenarioTest, ValuesOfTheWrongTypeAreNamed) {
  EXPECT_EQ(refusal("name = \"x\"\ntasks = \"many\"\n"),
            "tasks must be a whole number, not a string");
  EXPECT_EQ(refusal("name = \"x\"\n[traffic]\ndaily = 1\n"),
            "traffic.daily must be true or false, not an integer");
  EXPECT_EQ(refusal("name = \"x\"\n[traffic]\nrate = \"30/s\"\n"),
            "traffic.rate must be a number, not a string");
  EXPECT_EQ(refusal("name = \"x\"\n[variant.fixed.tiers]\ncache_first = \"yes\"\n"),
            "variant.fixed.tiers.cache_first must be true or false, not a string");
  EXPECT_EQ(refusal("name = \"x\"\nabuse = 5\n"),
            "abuse must be a list of tables ([[abuse]]), not an integer");
  EXPECT_EQ(refusal("name = 7\n"), "name must be a string, not an integer");
}

TEST(ScenarioTest, NumbersAreReadAsBefore) {
  auto s = parse_scenario(
      "name = \"x\"\ntasks = 8.0\nduration_s = 100\n[traffic]\nusers = 2e5\nrate = 12\n"
      "[models.sonnet]\ncapacity_rps = 900\n",
      "t.toml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->tasks, 8);
  EXPECT_EQ(s->duration_s, 100.0);
  EXPECT_EQ(s->traffic.users, 200'000);
  EXPECT_EQ(s->traffic.rate, 12.0);
  EXPECT_EQ(s->sonnet.quota_rps, 900.0);  // the quota follows the capacity unless stated
  EXPECT_EQ(s->title, "x");
}

TEST(ScenarioTest, FaultsAndEventsNeedAKnownKind) {
  EXPECT_EQ(refusal("name = \"x\"\n[[models.haiku.fault]]\nstart_s = 1\nend_s = 2\n"
                    "kind = \"meteor\"\n"),
            "models.haiku.fault.kind must be outage, throttle, capacity, unknown_format or "
            "latency, not \"meteor\"");
  EXPECT_NE(refusal("name = \"x\"\n[[models.haiku.fault]]\nstart_s = 1\nend_s = 2\n")
                .find("models.haiku.fault.kind must be"),
            std::string::npos);
  EXPECT_EQ(refusal("name = \"x\"\n[[models.haiku.fault]]\nstart_s = 2\nend_s = 1\n"
                    "kind = \"outage\"\n"),
            "models.haiku.fault.end_s must be after start_s");
  EXPECT_NE(refusal("name = \"x\"\n[[catalog_event]]\nat_s = 1\n").find("catalog_event.kind"),
            std::string::npos);
  EXPECT_EQ(refusal("name = \"x\"\n[variant.incident.observe]\nsampling = \"all\"\n"),
            "variant.incident.observe.sampling must be rules or uniform5, not \"all\"");
}

TEST(ScenarioTest, VariantSettingsAreGroupedAndAnOldFlatKeyIsNamedWithItsNewPlace) {
  auto s = parse_scenario(
      "name = \"x\"\n[variant.incident.retry]\nmax_attempts = 5\njitter = \"none\"\n"
      "base_ms = 100\ncap_ms = 10000\ntimeouts_retried = true\n"
      "[variant.incident.timeouts]\ndeadline_s = 12.5\nattempt_s = 5\n"
      "[variant.incident.breaker]\nwait_s = 30\nwindow_calls = 50\nfailure_rate = 80\n"
      "[variant.incident.tiers]\nstatic = false\ncache_only_when_open = true\n"
      "[variant.incident.messages]\ndegradation = \"v1\"\nraw_errors = true\n",
      "t.toml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const Variant& v = s->variants.at("incident");
  EXPECT_EQ(v.max_attempts, 5);
  EXPECT_EQ(v.jitter, resilience::Jitter::kNone);
  EXPECT_EQ(v.retry_cap_ms, 10000.0);
  EXPECT_EQ(v.timeouts_retried, true);
  EXPECT_EQ(v.deadline_s, 12.5);
  EXPECT_EQ(v.attempt_timeout_s, 5.0);
  EXPECT_EQ(v.breaker_window_calls, 50);
  EXPECT_EQ(v.breaker_failure_rate, 80.0);
  EXPECT_EQ(v.static_tier, false);
  EXPECT_EQ(v.cache_only_when_open, true);
  EXPECT_EQ(v.raw_errors, true);
  EXPECT_FALSE(s->variants.at("fixed").max_attempts.has_value());  // the project's default
  EXPECT_EQ(refusal("name = \"x\"\n[variant.incident]\nmax_attempts = 4\n"),
            "t.toml: variant.incident.max_attempts is now retry.max_attempts (variant settings "
            "are grouped: docs/simulator.md)");
  EXPECT_EQ(refusal("name = \"x\"\n[variant.fixed.retry]\nmax_attempts = 0\n"),
            "variant.fixed.retry.max_attempts must be within 1..20");
  EXPECT_NE(refusal("name = \"x\"\n[variant.fixed.breaker]\nwindow_calls = 5\nwindow_s = 5\n")
                .find("exclude each other"),
            std::string::npos);
}

TEST(ScenarioTest, SeedFiguresAndTargetsNameFiguresTheSimulatorReports) {
  auto s = parse_scenario(
      "name = \"x\"\n[seed_figures]\nuser_error_rate = { value = 0.15, min = 0.1, max = 0.2, "
      "note = \"n\" }\n[targets]\np99_latency_s = { max = 3.0 }\n",
      "t.toml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->seed_figures.size(), 1u);
  EXPECT_EQ(s->seed_figures[0].figure, "user_error_rate");
  EXPECT_EQ(s->seed_figures[0].value, 0.15);
  EXPECT_EQ(s->seed_figures[0].min, 0.1);
  EXPECT_EQ(s->seed_figures[0].note, "n");
  ASSERT_EQ(s->targets.size(), 1u);
  EXPECT_EQ(s->targets[0].max, 3.0);
  EXPECT_FALSE(s->targets[0].value.has_value());
  EXPECT_NE(refusal("name = \"x\"\n[seed_figures]\nhappiness = { value = 1 }\n")
                .find("seed_figures.happiness is not a figure the simulator reports"),
            std::string::npos);
  EXPECT_NE(refusal("name = \"x\"\n[targets]\nuser_error_rate = { min = 2, max = 1 }\n")
                .find("must not exceed max"),
            std::string::npos);
}

}  // namespace
}  // namespace ma::sim
