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
  EXPECT_EQ(refusal("name = \"x\"\n[variant.fixed]\ncache_first = \"yes\"\n"),
            "variant.fixed.cache_first must be true or false, not a string");
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
  EXPECT_EQ(refusal("name = \"x\"\n[variant.incident]\nsampling = \"all\"\n"),
            "variant.incident.sampling must be rules or uniform5, not \"all\"");
}

}  // namespace
}  // namespace ma::sim
