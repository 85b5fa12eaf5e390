#include "core/env.hpp"

#include <gtest/gtest.h>

namespace ma::core {
namespace {

TEST(EnvTest, AFixedEnvironmentAnswersItsOwnVariablesOnly) {
  const EnvLookup env = fixed_env({{"A", "1"}, {"EMPTY", ""}});
  ASSERT_NE(env("A"), nullptr);
  EXPECT_STREQ(env("A"), "1");
  EXPECT_STREQ(env("EMPTY"), "");
  EXPECT_EQ(env("B"), nullptr);
  // A copy shares the variables: its pointers stay valid while either copy lives.
  const EnvLookup copy = env;
  EXPECT_STREQ(copy("A"), "1");
}

TEST(EnvTest, AnEmptyVariableCountsAsUnset) {
  const EnvLookup env = fixed_env({{"A", "x"}, {"EMPTY", ""}});
  EXPECT_EQ(env_value(env, "A"), "x");
  EXPECT_FALSE(env_value(env, "EMPTY").has_value());
  EXPECT_FALSE(env_value(env, "B").has_value());
}

TEST(EnvTest, TheProcessEnvironmentIsGetenv) {
  EXPECT_EQ(process_env()("MA_ENV_TEST_SURELY_NOT_SET_8D1F"), nullptr);
}

}  // namespace
}  // namespace ma::core
