#include "assist/flags.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ma::assist {
namespace {

TEST(RuntimeFlagsTest, TheEnvironmentsFlagsApplyAllOrNothing) {
  RuntimeFlags flags;
  ASSERT_TRUE(flags
                  .load_env(core::fixed_env({{"RETRY_MAX_ATTEMPTS", "0"},
                                             {"PRIMARY_MODEL", "haiku"},
                                             {"FM_MODE", "static_only"},
                                             {"DEGRADATION_MESSAGE_VERSION", "v1"}}))
                  .ok());
  EXPECT_EQ(flags.retry_max_attempts(), 0);
  EXPECT_EQ(flags.primary_model_name(), "haiku");
  EXPECT_EQ(flags.fm_mode(), FmMode::kStaticOnly);
  EXPECT_EQ(flags.degradation_version(), DegradationVersion::kV1);

  RuntimeFlags other;
  const auto st =
      other.load_env(core::fixed_env({{"RETRY_MAX_ATTEMPTS", "5"}, {"FM_MODE", "panic"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "invalid_flag");
  EXPECT_EQ(st.error().message, "FM_MODE must be normal, cache_only or static_only");
  EXPECT_EQ(other.retry_max_attempts(), 3);  // nothing applied
}

TEST(RuntimeFlagsTest, FromEnvKeepsOnlyTheVariablesSetAndNotEmpty) {
  auto flags = RuntimeFlags::from_env(
      core::fixed_env({{"RETRY_MAX_ATTEMPTS", ""}, {"PRIMARY_MODEL", "sonnet"}, {"OTHER", "x"}}));
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(*flags, (boost::json::object{{"PRIMARY_MODEL", "sonnet"}}));
  EXPECT_FALSE(RuntimeFlags::from_env(core::fixed_env({{"RETRY_MAX_ATTEMPTS", "3x"}})).ok());
  EXPECT_FALSE(RuntimeFlags::from_env(core::fixed_env({{"RETRY_MAX_ATTEMPTS", "11"}})).ok());
}

TEST(RuntimeFlagsTest, TheOverridesPatchAsTheyAre) {
  auto overrides = RuntimeFlags::from_env(core::fixed_env({{"RETRY_MAX_ATTEMPTS", "7"}}));
  ASSERT_TRUE(overrides.ok());
  RuntimeFlags flags;
  flags.set_retry_max_attempts(2);  // the config's retry.max_attempts
  ASSERT_TRUE(flags.patch(*overrides).ok());
  EXPECT_EQ(flags.retry_max_attempts(), 7);
}

TEST(RuntimeFlagsTest, TheMessageVersionTakesV3AndNothingElseNew) {
  RuntimeFlags flags;
  ASSERT_TRUE(flags.patch(boost::json::object{{"DEGRADATION_MESSAGE_VERSION", "v3"}}).ok());
  EXPECT_EQ(flags.degradation_version(), DegradationVersion::kV3);
  EXPECT_EQ(flags.to_json().at("DEGRADATION_MESSAGE_VERSION"), "v3");
  const auto st = flags.patch(boost::json::object{{"DEGRADATION_MESSAGE_VERSION", "v4"}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "DEGRADATION_MESSAGE_VERSION must be v1, v2 or v3");
  EXPECT_EQ(flags.degradation_version(), DegradationVersion::kV3);
}

}  // namespace
}  // namespace ma::assist
