#include "resilience/retry_budget.hpp"

#include <gtest/gtest.h>

namespace ma::resilience {
namespace {

using namespace std::chrono_literals;
using core::TimePoint;

const TimePoint kT0{std::chrono::hours(7)};

TEST(RetryBudgetTest, CappedBudgetAllowsNPerRollingMinute) {
  CappedRetryBudget b(100);
  int spent = 0;
  for (int i = 0; i < 150; ++i) spent += b.try_spend(kT0 + i * 100ms);  // over 15 s
  EXPECT_EQ(spent, 100);
  EXPECT_EQ(b.available(kT0 + 20s), 0);
  // The first retry leaves the window 60 s after it was spent.
  EXPECT_FALSE(b.try_spend(kT0 + 60s - 1ns));
  EXPECT_TRUE(b.try_spend(kT0 + 60s));
  EXPECT_FALSE(b.try_spend(kT0 + 60s));
  EXPECT_TRUE(b.try_spend(kT0 + 60s + 100ms));
  EXPECT_EQ(b.available(kT0 + 200s), 100);
}

TEST(RetryBudgetTest, ZeroCapNeverRetries) {
  CappedRetryBudget b(0);
  EXPECT_FALSE(b.try_spend(kT0));
}

TEST(RetryBudgetTest, RatioBudgetBoundsRetriesToAShareOfRequests) {
  // 10% of requests plus a reserve of 1/s over a 10 s window (10 retries).
  RatioRetryBudget b(0.1, 1.0, 10s);
  int spent = 0;
  // 1,000 requests/s for 5 s, every one asking to retry.
  for (int ms = 0; ms < 5000; ++ms) {
    const TimePoint now = kT0 + std::chrono::milliseconds(ms);
    b.on_request(now);
    spent += b.try_spend(now);
  }
  // At most 10% of 5,000 requests plus the reserve of 10.
  EXPECT_LE(spent, 510);
  EXPECT_GE(spent, 490);
}

TEST(RetryBudgetTest, RatioBudgetReserveAllowsRetriesAtLowTraffic) {
  RatioRetryBudget b(0.2, 1.0, 10s);
  int spent = 0;
  for (int i = 0; i < 20; ++i) spent += b.try_spend(kT0);
  EXPECT_EQ(spent, 10);  // the reserve: 1/s x 10 s
}

TEST(RetryBudgetTest, RatioBudgetDepositsExpire) {
  RatioRetryBudget b(0.5, 0.0, 2s);
  for (int i = 0; i < 10; ++i) b.on_request(kT0);
  EXPECT_NEAR(b.available(kT0), 5.0, 1e-9);
  EXPECT_NEAR(b.available(kT0 + 3s), 0.0, 1e-9);
  EXPECT_FALSE(b.try_spend(kT0 + 3s));
}

}  // namespace
}  // namespace ma::resilience
