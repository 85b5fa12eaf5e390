#include "assist/degradation_split.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace ma::assist {
namespace {

using V = DegradationVersion;

DegradationSplit split(std::vector<std::pair<std::string, std::int64_t>> w) {
  auto s = DegradationSplit::make(w);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return s.ok() ? std::move(s).value() : DegradationSplit{};
}

TEST(DegradationSplitTest, NoExperimentAssignsNothing) {
  EXPECT_TRUE(split({}).empty());
  EXPECT_FALSE(split({}).assign("u:1").has_value());
}

TEST(DegradationSplitTest, TenThousandUsersFollowTheWeightsWithinTolerance) {
  for (auto [w2, w3] : {std::pair{50, 50}, std::pair{90, 10}, std::pair{1, 3}}) {
    const DegradationSplit s = split({{"v2", w2}, {"v3", w3}});
    int v3 = 0;
    constexpr int kUsers = 10'000;
    // Keys as admission makes them, of every kind.
    for (int i = 0; i < kUsers; ++i) {
      const std::string key =
          i % 3 == 0   ? "u:" + std::to_string(i)
          : i % 3 == 1 ? "s:sess" + std::to_string(i * 7919)
                       : "a:10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
      v3 += s.assign(key) == V::kV3;
    }
    const double expected = kUsers * static_cast<double>(w3) / (w2 + w3);
    // Binomial: 4 standard deviations.
    const double sd = std::sqrt(kUsers * (static_cast<double>(w3) / (w2 + w3)) *
                                (static_cast<double>(w2) / (w2 + w3)));
    EXPECT_NEAR(v3, expected, 4 * sd) << w2 << "/" << w3;
  }
}

TEST(DegradationSplitTest, AUserAlwaysGetsTheSameVersionAndAZeroWeightNone) {
  const DegradationSplit s = split({{"v3", 1}, {"v2", 1}});
  const DegradationSplit again = split({{"v2", 1}, {"v3", 1}});  // order does not matter
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "u:" + std::to_string(i);
    EXPECT_EQ(s.assign(key), s.assign(key));
    EXPECT_EQ(s.assign(key), again.assign(key));
  }
  // Stable across builds and processes: the hash is fixed (a changed hash would move users
  // between versions in the middle of an experiment).
  EXPECT_EQ(DegradationSplit::user_hash("u:1"), 13413225084432073810ULL);
  const DegradationSplit only_v3 = split({{"v2", 0}, {"v3", 5}});
  for (int i = 0; i < 200; ++i) EXPECT_EQ(only_v3.assign("s:" + std::to_string(i)), V::kV3);
}

TEST(DegradationSplitTest, OnlySafeVersionsWithSaneWeightsAreAccepted) {
  auto v1 = DegradationSplit::make({{"v1", 50}, {"v2", 50}});
  ASSERT_FALSE(v1.ok());
  EXPECT_EQ(v1.error().code, "invalid_config");
  EXPECT_NE(v1.error().message.find("degradation.ab: v1 is the seed's banned message"),
            std::string::npos)
      << v1.error().message;
  auto unknown = DegradationSplit::make({{"v9", 1}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("unknown degradation message version \"v9\""),
            std::string::npos);
  auto negative = DegradationSplit::make({{"v2", -1}});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("degradation.ab.v2 must be a weight"), std::string::npos);
  auto zero = DegradationSplit::make({{"v2", 0}, {"v3", 0}});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("add up to 0"), std::string::npos);
  auto twice = DegradationSplit::make({{"v2", 1}, {"v2", 1}});
  EXPECT_FALSE(twice.ok());
}

}  // namespace
}  // namespace ma::assist
