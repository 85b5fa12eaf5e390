#include "resilience/retry_policy.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <optional>
#include <string_view>

#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

using namespace std::chrono_literals;
using core::Deadline;
using core::Duration;
using core::TimePoint;

const TimePoint kT0{std::chrono::hours(1)};

// AWS SDK standard retry SEP: every case, step by step (outcome, quota, delay).
TEST(RetryPolicyTest, PassesTheAwsStandardRetrySepSuite) {
  const auto v = testing::load_json("aws_retry_sep_standard_legacy.json");
  int cases = 0;
  for (const auto& c : v.at("cases").as_array()) {
    const std::string name(c.at("name").as_string());
    SCOPED_TRACE(name);
    const auto& g = c.at("given");
    RetryConfig cfg;
    cfg.max_attempts = static_cast<int>(g.at("max_attempts").as_int64());
    // t_i = b * min(r^i, max_backoff): full jitter, base 1 s, with b (the sample) fixed.
    cfg.backoff = {Jitter::kFull, 1s, core::from_seconds(testing::num(g.at("max_backoff_time")))};
    const double b = testing::num(g.at("exponential_base"));
    RetryPolicy policy(cfg, nullptr, static_cast<int>(g.at("initial_retry_tokens").as_int64()));
    auto attempts = policy.begin(kT0, Deadline::never());
    for (const auto& step : c.at("responses").as_array()) {
      const int status = static_cast<int>(step.at("response").at("status_code").as_int64());
      const auto& want = step.at("expected");
      const std::string outcome(want.at("outcome").as_string());
      if (status == 200) {
        attempts.on_success();
        EXPECT_EQ(outcome, "success");
      } else {
        const auto d = attempts.on_failure(classify(status, ""), kT0, b);
        if (outcome == "retry_request") {
          ASSERT_EQ(d.verdict, RetryVerdict::kRetry);
          EXPECT_NEAR(core::to_seconds(d.delay), testing::num(want.at("delay")), 1e-9);
        } else if (outcome == "max_attempts_exceeded") {
          EXPECT_EQ(d.verdict, RetryVerdict::kMaxAttempts);
        } else if (outcome == "retry_quota_exceeded") {
          EXPECT_EQ(d.verdict, RetryVerdict::kQuotaExceeded);
        } else {
          ADD_FAILURE() << "unexpected outcome " << outcome;
        }
      }
      EXPECT_EQ(policy.quota_available(), want.at("retry_quota").as_int64());
    }
    ++cases;
  }
  EXPECT_EQ(cases, 6);
}

TEST(RetryPolicyTest, ClientAndUnknownErrorsAreNotRetried) {
  RetryPolicy policy({}, nullptr);
  auto a = policy.begin(kT0, Deadline::never());
  EXPECT_EQ(a.on_failure(ErrorClass::kClient, kT0, 0.5).verdict, RetryVerdict::kNotRetryable);
  EXPECT_EQ(a.on_failure(ErrorClass::kUnknown, kT0, 0.5).verdict, RetryVerdict::kNotRetryable);
  EXPECT_EQ(policy.quota_available(), 500);
}

TEST(RetryPolicyTest, MaxAttemptsZeroIsTheStormBrake) {
  RetryPolicy policy({}, nullptr);
  policy.set_max_attempts(0);
  auto a = policy.begin(kT0, Deadline::never());
  EXPECT_EQ(a.on_failure(ErrorClass::kThrottling, kT0, 0.5).verdict, RetryVerdict::kMaxAttempts);
  policy.set_max_attempts(3);
  auto b = policy.begin(kT0, Deadline::never());
  EXPECT_TRUE(b.on_failure(ErrorClass::kThrottling, kT0, 0.5).retry());
}

TEST(RetryPolicyTest, NeverSleepsPastTheDeadline) {
  RetryConfig cfg;
  cfg.backoff = {Jitter::kNone, 400ms, 2s};
  RetryPolicy policy(cfg, nullptr);
  auto a = policy.begin(kT0, Deadline(kT0 + 1s));
  auto d1 = a.on_failure(ErrorClass::kTransient, kT0, 0.5);
  ASSERT_TRUE(d1.retry());
  EXPECT_EQ(d1.delay, 400ms);
  // Second retry would sleep 800 ms from t0+500ms: past the deadline.
  EXPECT_EQ(a.on_failure(ErrorClass::kTransient, kT0 + 500ms, 0.5).verdict,
            RetryVerdict::kDeadline);
  EXPECT_EQ(policy.quota_available(), 495);  // the refused retry took no quota
}

TEST(RetryPolicyTest, TimeoutRetriesCostMoreQuota) {
  RetryPolicy policy({}, nullptr);
  auto a = policy.begin(kT0, Deadline::never());
  ASSERT_TRUE(a.on_failure(ErrorClass::kTimeout, kT0, 0.1).retry());
  EXPECT_EQ(policy.quota_available(), 490);
  a.on_success();
  EXPECT_EQ(policy.quota_available(), 500);
}

TEST(RetryPolicyTest, RetryAfterRaisesTheDelayWithinFiveSeconds) {
  RetryConfig cfg;
  cfg.backoff = {Jitter::kNone, 50ms, 20s};
  RetryPolicy policy(cfg, nullptr);
  auto a = policy.begin(kT0, Deadline::never());
  EXPECT_EQ(a.on_failure(ErrorClass::kThrottling, kT0, 1.0, 1500ms).delay, 1500ms);
  auto b = policy.begin(kT0, Deadline::never());
  EXPECT_EQ(b.on_failure(ErrorClass::kThrottling, kT0, 1.0, 10s).delay, 5050ms);
  auto c = policy.begin(kT0, Deadline::never());
  EXPECT_EQ(c.on_failure(ErrorClass::kThrottling, kT0, 1.0, 0ms).delay, 50ms);
}

// botocore's x-amz-retry-after rows (2026 mode: a 500 costs 14, base 0.05 s, random = 1):
// delay = max(t_i, min(retry_after, t_i + 5 s)). The header is whole milliseconds; a value that
// is not one ("invalid") is no hint at all, and a negative or zero one is no hint either.
std::optional<Duration> x_amz_retry_after(std::string_view header) {
  long long ms = 0;
  const auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), ms);
  if (ec != std::errc() || end != header.data() + header.size()) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

TEST(RetryPolicyTest, PassesBotocoreRetryAfterVectors) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  const auto& t = v.at("x_amz_retry_after");
  const auto& cols = t.at("columns").as_array();
  ASSERT_EQ(cols.size(), 4u);
  ASSERT_EQ(cols[0].as_string(), "header");
  ASSERT_EQ(cols[1].as_string(), "capacity_after_failure");
  ASSERT_EQ(cols[2].as_string(), "delay_s");
  ASSERT_EQ(cols[3].as_string(), "capacity_after_success");
  int rows = 0;
  for (const auto& row : t.at("rows").as_array()) {
    const auto& r = row.as_array();
    const std::string header(r[0].as_string());
    SCOPED_TRACE("x-amz-retry-after: " + header);
    RetryConfig cfg;
    cfg.backoff = {Jitter::kFull, 50ms, 20s};
    cfg.quota = {.capacity = 500,
                 .retry_cost = 14,
                 .timeout_retry_cost = 14,
                 .no_retry_increment = 1,
                 .throttling_retry_cost = 5};
    RetryPolicy policy(cfg, nullptr);
    auto a = policy.begin(kT0, Deadline::never());
    const auto d = a.on_failure(classify(500, ""), kT0, 1.0, x_amz_retry_after(header));
    ASSERT_EQ(d.verdict, RetryVerdict::kRetry);
    EXPECT_NEAR(core::to_seconds(d.delay), testing::num(r[2]), 1e-9);
    EXPECT_EQ(policy.quota_available(), r[1].as_int64());
    a.on_success();
    EXPECT_EQ(policy.quota_available(), r[3].as_int64());
    ++rows;
  }
  EXPECT_EQ(rows, 5);
}

TEST(RetryPolicyTest, FleetBudgetStopsRetriesAndReturnsTheQuota) {
  CappedRetryBudget budget(2);
  RetryPolicy policy({}, &budget);
  int retried = 0;
  for (int i = 0; i < 5; ++i) {
    auto a = policy.begin(kT0, Deadline::never());
    const auto d = a.on_failure(ErrorClass::kThrottling, kT0, 0.5);
    if (d.retry()) {
      ++retried;
    } else {
      EXPECT_EQ(d.verdict, RetryVerdict::kBudgetExceeded);
    }
  }
  EXPECT_EQ(retried, 2);
  EXPECT_EQ(policy.quota_available(), 490);
}

// The pipeline's form when the budget is Redis: decide, spend elsewhere, settle.
TEST(RetryPolicyTest, DecideThenSettleIsOnFailureWithTheBudgetSpentByTheCaller) {
  CappedRetryBudget budget(1);
  RetryPolicy policy({}, &budget);
  auto a = policy.begin(kT0, Deadline::never());
  auto d = a.decide(ErrorClass::kThrottling, kT0, 0.5);
  ASSERT_TRUE(d.retry());
  ASSERT_TRUE(a.budget_pending());
  EXPECT_EQ(&a.budget(), &budget);
  EXPECT_EQ(policy.quota_available(), 495);  // the cost is held while the budget is asked
  EXPECT_EQ(a.settle(d, a.budget().try_spend(kT0), kT0).verdict, RetryVerdict::kRetry);
  EXPECT_EQ(a.attempts(), 2);
  EXPECT_FALSE(a.budget_pending());

  // Refused by the budget: the held cost goes back, and the attempt is not counted.
  d = a.decide(ErrorClass::kThrottling, kT0, 0.5);
  ASSERT_TRUE(d.retry());
  EXPECT_EQ(policy.quota_available(), 490);
  EXPECT_EQ(a.settle(d, a.budget().try_spend(kT0), kT0).verdict, RetryVerdict::kBudgetExceeded);
  EXPECT_EQ(policy.quota_available(), 495);
  EXPECT_EQ(a.attempts(), 2);

  // Nothing pending after a decision that is not a retry.
  d = a.decide(ErrorClass::kClient, kT0, 0.5);
  EXPECT_EQ(d.verdict, RetryVerdict::kNotRetryable);
  EXPECT_FALSE(a.budget_pending());
}

TEST(RetryPolicyTest, ABudgetThatAnswersPastTheDeadlineMakesNoRetry) {
  CappedRetryBudget budget(10);
  RetryPolicy policy({}, &budget);
  auto a = policy.begin(kT0, Deadline(kT0 + std::chrono::seconds(1)));
  const auto d = a.decide(ErrorClass::kThrottling, kT0, 0.0);
  ASSERT_TRUE(d.retry());
  const int held = policy.quota_available();
  const auto late = a.settle(d, a.budget().try_spend(kT0), kT0 + std::chrono::seconds(1));
  EXPECT_EQ(late.verdict, RetryVerdict::kDeadline);
  EXPECT_GT(policy.quota_available(), held);  // the cost went back
  EXPECT_EQ(a.attempts(), 1);
}

TEST(RetryPolicyTest, ACostHeldWhileTheBudgetIsAskedGoesBackIfTheRequestEnds) {
  CappedRetryBudget budget(10);
  RetryPolicy policy({}, &budget);
  {
    auto a = policy.begin(kT0, Deadline::never());
    ASSERT_TRUE(a.decide(ErrorClass::kThrottling, kT0, 0.5).retry());
    EXPECT_EQ(policy.quota_available(), 495);
  }  // never settled: the coroutine that asked the budget was destroyed
  EXPECT_EQ(policy.quota_available(), 500);
}

}  // namespace
}  // namespace ma::resilience
