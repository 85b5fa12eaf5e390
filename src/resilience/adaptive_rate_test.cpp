#include "resilience/adaptive_rate.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

using namespace std::chrono_literals;
using core::TimePoint;

struct Row {
  std::string section, name;
  int step;
  double t;
  bool throttled;
  double expected;
};

std::vector<Row> load_rows() {
  std::vector<Row> rows;
  std::istringstream in(testing::load_text("adaptive_cubic.csv"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("section,", 0) == 0) continue;
    std::istringstream ls(line);
    Row r;
    std::string step, t, thr, exp;
    std::getline(ls, r.section, ',');
    std::getline(ls, r.name, ',');
    std::getline(ls, step, ',');
    std::getline(ls, t, ',');
    std::getline(ls, thr, ',');
    std::getline(ls, exp, ',');
    r.step = std::stoi(step);
    r.t = std::stod(t);
    r.throttled = thr == "true";
    r.expected = std::stod(exp);
    rows.push_back(r);
  }
  return rows;
}

const TimePoint kOrigin{std::chrono::hours(10)};
TimePoint at(double s) { return kOrigin + core::from_seconds(s); }

// Section A: the Go/TypeScript cubic tests, with their harness: W from last_max_rate; on a
// throttle rate = prev * beta and that becomes last_max_rate at that time.
TEST(AdaptiveRateTest, SectionACubicSequences) {
  const auto rows = load_rows();
  int checked = 0;
  double rate = 0, last_max = 10, last_throttle = 5;
  std::string current;
  for (const auto& r : rows) {
    if (r.section != "A") continue;
    if (r.name != current) {
      current = r.name;
      last_max = 10;
      last_throttle = 5;
    }
    if (r.throttled) {
      rate = AdaptiveRateLimiter::cubic_throttle(rate, 0.7);
      last_throttle = r.t;
      last_max = rate;
    } else {
      rate = AdaptiveRateLimiter::cubic_success(r.t, last_max, last_throttle, 0.7, 0.4);
    }
    EXPECT_NEAR(rate, r.expected, 1e-9) << r.name << " step " << r.step;
    ++checked;
  }
  EXPECT_EQ(checked, 15);
}

// Section B: a fresh limiter made at t = 0; one throttled response at t. The measured rate is
// 0.8 x 1/t and, the bucket not yet enabled, the new rate is that x beta.
TEST(AdaptiveRateTest, SectionBThrottleUsesMeasuredRateBeforeEnabled) {
  int checked = 0;
  for (const auto& r : load_rows()) {
    if (r.section != "B") continue;
    AdaptiveRateLimiter lim;
    lim.start(at(0));
    lim.set_cubic_state(10, 5);
    lim.update(at(r.t), /*throttled=*/true);
    EXPECT_NEAR(lim.calculated_rate(), r.expected, 5e-9) << "t=" << r.t;
    EXPECT_TRUE(lim.enabled());
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

// Section C: botocore CubicCalculator(starting_max_rate=10, start_time=0).
TEST(AdaptiveRateTest, SectionCBotocoreCalculator) {
  std::map<std::string, double> want;
  for (const auto& r : load_rows()) {
    if (r.section == "C") want[r.name] = r.expected;
  }
  ASSERT_EQ(want.size(), 5u);
  EXPECT_NEAR(AdaptiveRateLimiter::time_window(10, 0.7, 0.4), want["botocore_k_initial"], 1e-12);
  EXPECT_NEAR(AdaptiveRateLimiter::cubic_throttle(8, 0.7), want["botocore_error_rate"], 1e-12);
  EXPECT_NEAR(AdaptiveRateLimiter::time_window(8, 0.7, 0.4), want["botocore_k_after_error"], 1e-12);
  EXPECT_NEAR(AdaptiveRateLimiter::cubic_throttle(10, 0.6), want["botocore_beta06_error"], 1e-12);
  EXPECT_NEAR(AdaptiveRateLimiter::cubic_success(1, 10, 1, 0.6, 0.4),
              want["botocore_beta06_success_at_1"], 1e-9);
  // success at t == k returns w_max; before k below it, after k above it.
  const double k = AdaptiveRateLimiter::time_window(10, 0.7, 0.4);
  EXPECT_NEAR(AdaptiveRateLimiter::cubic_success(k, 10, 0, 0.7, 0.4), 10.0, 1e-9);
  EXPECT_LT(AdaptiveRateLimiter::cubic_success(k / 2, 10, 0, 0.7, 0.4), 10.0);
  EXPECT_GT(AdaptiveRateLimiter::cubic_success(k * 2, 10, 0, 0.7, 0.4), 10.0);
}

TEST(AdaptiveRateTest, DisabledUntilTheFirstThrottle) {
  AdaptiveRateLimiter lim;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(lim.try_acquire(at(i * 0.001)), core::Duration::zero());
    lim.update(at(i * 0.001), false);
  }
  EXPECT_FALSE(lim.enabled());
}

TEST(AdaptiveRateTest, ThrottleLimitsTheSendRateThenRecovers) {
  AdaptiveRateLimiter lim;
  // 100 requests/s for 5 s, all fine.
  double t = 0;
  for (; t < 5.0; t += 0.01) {
    (void)lim.try_acquire(at(t));
    lim.update(at(t), false);
  }
  lim.update(at(t), true);  // throttled
  ASSERT_TRUE(lim.enabled());
  EXPECT_NEAR(lim.fill_rate(), 0.7 * lim.last_max_rate(), 1e-9);
  EXPECT_LT(lim.fill_rate(), 100.0);
  // Spend the burst the bucket still holds.
  while (lim.try_acquire(at(t)) == core::Duration::zero()) lim.update(at(t), false);
  // A refused acquire says how long to wait.
  const auto wait = lim.try_acquire(at(t));
  EXPECT_GT(wait, core::Duration::zero());
  EXPECT_LT(wait, 1s);
  // Offer 1,000/s for one second: only about the fill rate (70/s, growing back along the
  // cubic curve towards 100/s) get a token.
  int sent = 0;
  const double start = t;
  for (; t < start + 1.0; t += 0.001) {
    if (lim.try_acquire(at(t)) == core::Duration::zero()) {
      ++sent;
      lim.update(at(t), false);
    }
  }
  EXPECT_GT(sent, 60);
  EXPECT_LT(sent, 110);
}

TEST(AdaptiveRateTest, NeverBelowTheMinimumFillRate) {
  AdaptiveRateLimiter lim;
  for (int i = 0; i < 50; ++i) lim.update(at(i * 10.0), true);
  EXPECT_GE(lim.fill_rate(), 0.5);
}

}  // namespace
}  // namespace ma::resilience
