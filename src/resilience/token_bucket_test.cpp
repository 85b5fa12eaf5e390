#include "resilience/token_bucket.hpp"

#include <gtest/gtest.h>

#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

using namespace std::chrono_literals;
using core::TimePoint;

const TimePoint kT0{std::chrono::hours(5)};

// Envoy's timer-model vectors on the continuous model: "fill" = advance by fill_interval.
TEST(TokenBucketTest, PassesEnvoyLocalRateLimitVectors) {
  const auto v = testing::load_json("envoy_local_ratelimit_token_bucket.json");
  int replayed = 0, config_errors = 0;
  for (const auto& c : v.at("cases").as_array()) {
    const auto& o = c.as_object();
    const std::string name(o.at("name").as_string());
    SCOPED_TRACE(name);
    if (!o.contains("fill_interval_ms")) continue;  // descriptor check: see below
    const auto interval = std::chrono::milliseconds(o.at("fill_interval_ms").as_int64());
    auto spec = BucketSpec::from_envoy(o.at("max_tokens").as_int64(),
                                       o.at("tokens_per_fill").as_int64(), interval);
    if (const auto* expect = o.if_contains("expect")) {
      ASSERT_FALSE(spec.ok());
      EXPECT_NE(std::string(expect->as_string()).find(spec.error().message), std::string::npos);
      ++config_errors;
      continue;
    }
    ASSERT_TRUE(spec.ok());
    TimePoint now = kT0;
    TokenBucket bucket(*spec, now);
    int step = 0;
    for (const auto& op : o.at("ops").as_array()) {
      const std::string_view s = op.as_string();
      if (s == "fill") {
        now += interval;
      } else {
        const bool want = s == "req:allow";
        EXPECT_EQ(bucket.try_acquire(now) == BucketVerdict::kAllowed, want) << "op " << step;
      }
      ++step;
    }
    ++replayed;
  }
  EXPECT_EQ(replayed, 3);
  EXPECT_EQ(config_errors, 1);
}

TEST(TokenBucketTest, ApiGatewayRateAndBurst) {
  // rate 2000/s, burst 4000: the seed's static global limit.
  TokenBucket b({.rate = 2000, .burst = 4000}, kT0);
  int allowed = 0;
  for (int i = 0; i < 5000; ++i) allowed += b.try_acquire(kT0) == BucketVerdict::kAllowed;
  EXPECT_EQ(allowed, 4000);
  EXPECT_EQ(b.try_acquire(kT0 + 1ms), BucketVerdict::kAllowed);  // +2 tokens
  EXPECT_EQ(b.try_acquire(kT0 + 1ms), BucketVerdict::kAllowed);
  EXPECT_EQ(b.try_acquire(kT0 + 1ms), BucketVerdict::kRateLimited);
  EXPECT_EQ(b.time_until(kT0 + 1ms), 500us);
  EXPECT_NEAR(b.tokens(kT0 + 10s), 4000.0, 1e-9);  // capped at burst
}

TEST(TokenBucketTest, QuotaPerPeriod) {
  TokenBucket b({.rate = 100, .burst = 100, .quota = 3, .quota_period = 24h}, kT0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.try_acquire(kT0), BucketVerdict::kAllowed);
  EXPECT_EQ(b.try_acquire(kT0 + 1h), BucketVerdict::kQuotaExhausted);
  EXPECT_EQ(b.time_until(kT0 + 1h), 23h);
  EXPECT_EQ(b.try_acquire(kT0 + 24h), BucketVerdict::kAllowed);
}

TEST(TokenBucketTest, ReconfigureKeepsTokensWithinTheNewBurst) {
  TokenBucket b({.rate = 10, .burst = 10}, kT0);
  b.reconfigure({.rate = 1, .burst = 2}, kT0);
  EXPECT_NEAR(b.tokens(kT0), 2.0, 1e-12);
  EXPECT_EQ(b.time_until(kT0, 3), core::Duration::max());  // more than the burst
}

TEST(TokenBucketTest, ZeroRateNeverRefills) {
  TokenBucket b({.rate = 0, .burst = 1}, kT0);
  EXPECT_EQ(b.try_acquire(kT0), BucketVerdict::kAllowed);
  EXPECT_EQ(b.try_acquire(kT0 + 1h), BucketVerdict::kRateLimited);
  EXPECT_EQ(b.time_until(kT0 + 1h), core::Duration::max());
}

}  // namespace
}  // namespace ma::resilience
