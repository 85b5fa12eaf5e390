#include "resilience/token_bucket.hpp"

#include <gtest/gtest.h>

#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

using namespace std::chrono_literals;
using core::Duration;
using core::TimePoint;

const TimePoint kT0{std::chrono::hours(5)};

// A vector's "config error: '<message>'": the message Envoy gives, which ours must equal.
std::string expected_message(std::string_view expect) {
  const auto open = expect.find('\'');
  const auto close = expect.rfind('\'');
  EXPECT_TRUE(open != std::string_view::npos && close > open) << expect;
  if (open == std::string_view::npos || close <= open) return std::string(expect);
  return std::string(expect.substr(open + 1, close - open - 1));
}

// A protobuf Duration in JSON form: "60s", "0.5s".
Duration proto_duration(std::string_view s) {
  EXPECT_TRUE(s.ends_with("s")) << s;
  return core::from_seconds(std::stod(std::string(s.substr(0, s.size() - 1))));
}

// Envoy's timer-model vectors on the continuous model: "fill" = advance by fill_interval.
// Configuration errors must be refused with Envoy's message.
TEST(TokenBucketTest, PassesEnvoyLocalRateLimitVectors) {
  const auto v = testing::load_json("envoy_local_ratelimit_token_bucket.json");
  int replayed = 0, config_errors = 0, descriptor_errors = 0;
  for (const auto& c : v.at("cases").as_array()) {
    const auto& o = c.as_object();
    const std::string name(o.at("name").as_string());
    SCOPED_TRACE(name);
    if (o.contains("descriptor_fill_interval")) {
      // A descriptor bucket whose interval is not a multiple of the global one (the vector
      // gives no token counts: 1 and 1, which are valid, leave the interval the only fault).
      const Duration global = std::chrono::milliseconds(o.at("global_fill_interval_ms").as_int64());
      const Duration interval = proto_duration(o.at("descriptor_fill_interval").as_string());
      const auto spec = BucketSpec::from_envoy_descriptor(1, 1, interval, global);
      ASSERT_FALSE(spec.ok());
      EXPECT_EQ(spec.error().message, expected_message(o.at("expect").as_string()));
      ++descriptor_errors;
      continue;
    }
    const auto interval = std::chrono::milliseconds(o.at("fill_interval_ms").as_int64());
    auto spec = BucketSpec::from_envoy(o.at("max_tokens").as_int64(),
                                       o.at("tokens_per_fill").as_int64(), interval);
    if (const auto* expect = o.if_contains("expect")) {
      ASSERT_FALSE(spec.ok());
      EXPECT_EQ(spec.error().message, expected_message(expect->as_string()));
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
  EXPECT_EQ(descriptor_errors, 1);
}

TEST(TokenBucketTest, EnvoyDescriptorIntervalsThatAreMultiplesAreAccepted) {
  const auto spec = BucketSpec::from_envoy_descriptor(10, 5, 118s, 59s);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_NEAR(spec->rate, 5.0 / 118.0, 1e-12);
  EXPECT_EQ(spec->burst, 10.0);
  EXPECT_FALSE(BucketSpec::from_envoy_descriptor(10, 5, 60s, 59s).ok());
  EXPECT_FALSE(BucketSpec::from_envoy_descriptor(10, 5, 59s, 118s).ok());  // shorter
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
