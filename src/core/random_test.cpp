#include "core/random.hpp"

#include <gtest/gtest.h>

#include <random>

#include "core/json_util.hpp"
#include "core/result.hpp"

namespace ma::core {
namespace {

TEST(RandomTest, SameSeedSameSequence) {
  Random a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    differs |= (x != c.next());
  }
  EXPECT_TRUE(differs);
}

TEST(RandomTest, UniformStaysInRangeAndCoversIt) {
  Random r(7);
  double lo = 1, hi = 0, sum = 0;
  constexpr int kN = 100000;
  for (int i = 0; i < kN; ++i) {
    const double u = r.uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
  }
  EXPECT_LT(lo, 0.001);
  EXPECT_GT(hi, 0.999);
  EXPECT_NEAR(sum / kN, 0.5, 0.01);
}

TEST(RandomTest, BelowIsUnbiasedEnough) {
  Random r(9);
  int counts[6] = {};
  for (int i = 0; i < 60000; ++i) ++counts[r.below(6)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(RandomTest, WorksWithStandardDistributions) {
  Random r(1);
  std::uniform_int_distribution<int> d(1, 3);
  for (int i = 0; i < 100; ++i) {
    const int x = d(r);
    EXPECT_GE(x, 1);
    EXPECT_LE(x, 3);
  }
}

TEST(RandomTest, SplitChildrenAreReproducible) {
  Random a(5), b(5);
  Random ca = a.split(), cb = b.split();
  EXPECT_EQ(ca.next(), cb.next());
  EXPECT_NE(ca.seed(), a.seed());
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> ok = 3;
  Result<int> bad = fail("bad_input", "three is not allowed");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "bad_input");
  EXPECT_EQ(bad.value_or(9), 9);
}

TEST(JsonTest, ParseFailureIsAValue) {
  EXPECT_FALSE(parse_json("{\"a\":").ok());
  auto v = parse_json(R"({"a": "x", "n": 3, "f": 2.5, "b": true})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(get_string(*v, "a"), "x");
  EXPECT_EQ(get_int(*v, "n"), 3);
  EXPECT_EQ(get_number(*v, "f"), 2.5);
  EXPECT_EQ(get_bool(*v, "b"), true);
  EXPECT_FALSE(get_int(*v, "f").has_value());
  EXPECT_FALSE(get_string(*v, "n").has_value());
}

TEST(JsonTest, EscapesStrings) {
  std::string out;
  append_json_string(out, "a\"b\\c\n\x01 ワンピース");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001 ワンピース\"");
}

}  // namespace
}  // namespace ma::core

#include "core/wall_time.hpp"

namespace ma::core {
namespace {

TEST(WallTimeTest, FormatsAndParsesRfc3339) {
  const WallTime t{std::chrono::milliseconds(1709210096123)};
  EXPECT_EQ(format_rfc3339(t), "2024-02-29T12:34:56.123Z");
  EXPECT_EQ(format_rfc3339(t, false), "2024-02-29T12:34:56Z");
  EXPECT_EQ(parse_rfc3339("2024-02-29T12:34:56.123Z"), t);
  EXPECT_EQ(parse_rfc3339("2026-11-20T00:00:00Z"), WallTime{std::chrono::seconds(1795132800)});
  EXPECT_EQ(format_rfc3339(WallTime{}), "1970-01-01T00:00:00.000Z");
  for (std::string_view bad : {"", "2026-11-20", "2026-11-20T00:00:00", "2026-11-20T00:00:00+09:00",
                               "2026-13-01T00:00:00Z", "20x6-11-20T00:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace ma::core
