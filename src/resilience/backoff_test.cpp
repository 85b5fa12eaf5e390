#include "resilience/backoff.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <set>

#include "core/sim_clock.hpp"
#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

using namespace std::chrono_literals;
using core::Duration;

TEST(BackoffTest, NoJitterIsPlainCappedExponential) {
  Backoff b({Jitter::kNone, 100ms, 1s});
  core::Random r(1);
  EXPECT_EQ(b.next(r), 100ms);
  EXPECT_EQ(b.next(r), 200ms);
  EXPECT_EQ(b.next(r), 400ms);
  EXPECT_EQ(b.next(r), 800ms);
  EXPECT_EQ(b.next(r), 1s);
  EXPECT_EQ(b.next(r), 1s);
}

TEST(BackoffTest, HugeRetryIndexDoesNotOverflow) {
  const BackoffSpec s{Jitter::kNone, 100ms, 20s};
  EXPECT_EQ(Backoff::delay(s, 40, 0ns, 0.5), 20s);
  EXPECT_EQ(Backoff::delay(s, 63, 0ns, 0.5), 20s);
  EXPECT_EQ(Backoff::delay(s, 1000, 0ns, 0.5), 20s);
}

TEST(BackoffTest, FullJitterFollowsBrookersFormula) {
  const BackoffSpec s{Jitter::kFull, 100ms, 1s};
  EXPECT_EQ(Backoff::delay(s, 2, 0ns, 0.0), 0ns);
  EXPECT_EQ(Backoff::delay(s, 2, 0ns, 0.5), 200ms);    // U(0, 400ms) at 0.5
  EXPECT_EQ(Backoff::delay(s, 10, 0ns, 0.25), 250ms);  // capped at 1s
}

TEST(BackoffTest, EqualJitterKeepsHalfTheExponential) {
  const BackoffSpec s{Jitter::kEqual, 100ms, 1s};
  EXPECT_EQ(Backoff::delay(s, 2, 0ns, 0.0), 200ms);
  EXPECT_EQ(Backoff::delay(s, 2, 0ns, 0.5), 300ms);
  EXPECT_EQ(Backoff::delay(s, 2, 0ns, 0.999999999), 399999999ns);
}

TEST(BackoffTest, DecorrelatedJitterGrowsFromThePreviousDelay) {
  const BackoffSpec s{Jitter::kDecorrelated, 100ms, 1s};
  EXPECT_EQ(Backoff::delay(s, 0, 100ms, 0.0), 100ms);  // U(base, 3*base)
  EXPECT_EQ(Backoff::delay(s, 0, 100ms, 0.5), 200ms);
  EXPECT_EQ(Backoff::delay(s, 3, 300ms, 0.5), 500ms);  // U(100, 900) at 0.5
  EXPECT_EQ(Backoff::delay(s, 5, 900ms, 0.9), 1s);     // capped
  Backoff b(s);
  core::Random r(3);
  for (int i = 0; i < 1000; ++i) {
    const Duration d = b.next(r);
    ASSERT_GE(d, 100ms);
    ASSERT_LE(d, 1s);
  }
}

TEST(BackoffTest, DefaultIsDecorrelated) { EXPECT_EQ(BackoffSpec{}.jitter, Jitter::kDecorrelated); }

TEST(BackoffTest, ParsesNames) {
  for (auto j : {Jitter::kNone, Jitter::kFull, Jitter::kEqual, Jitter::kDecorrelated}) {
    EXPECT_EQ(parse_jitter(to_string(j)), j);
  }
  EXPECT_FALSE(parse_jitter("exponential").has_value());
}

// botocore's legacy table: delay = random() * min(2^(attempt-1), max_backoff), random = 1.
TEST(BackoffTest, MatchesBotocoreLegacyTable) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  const auto& t = v.at("exponential_backoff_legacy");
  const BackoffSpec s{Jitter::kFull, 1s, core::from_seconds(testing::num(t.at("max_backoff")))};
  const auto& attempts = t.at("attempt_number").as_array();
  const auto& expected = t.at("expected_delay_s").as_array();
  ASSERT_EQ(attempts.size(), expected.size());
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const int retry = static_cast<int>(attempts[i].as_int64()) - 1;
    // u just below 1 is the largest sample the generator can produce.
    const double got = core::to_seconds(Backoff::delay(s, retry, 0ns, 1.0));
    EXPECT_NEAR(got, testing::num(expected[i]), 1e-9) << "attempt " << attempts[i];
  }
}

TEST(BackoffTest, MatchesBotocoreNewNonThrottlingTable) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  const auto& t = v.at("exponential_backoff_new_2026");
  const BackoffSpec s{Jitter::kFull, 50ms, core::from_seconds(testing::num(t.at("max_backoff")))};
  const auto& attempts = t.at("attempt_number").as_array();
  const auto& expected = t.at("expected_delay_s").as_array();
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const int retry = static_cast<int>(attempts[i].as_int64()) - 1;
    EXPECT_NEAR(core::to_seconds(Backoff::delay(s, retry, 0ns, 1.0)), testing::num(expected[i]),
                1e-9);
  }
}

// botocore's jitter_bound_checks: every row. Legacy mode draws U(0, min(2^(n-1), 20)) s; the
// 2026 mode U(0, min(0.05 * 2^(n-1), 20)) s for non-throttling errors.
TEST(BackoffTest, FullJitterStaysWithinBotocoreBounds) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  core::Random r(11);
  int bounds = 0, histograms = 0;
  for (const auto& row : v.at("jitter_bound_checks").as_array()) {
    const auto& o = row.as_object();
    const int retry = static_cast<int>(o.at("attempt_number").as_int64()) - 1;
    SCOPED_TRACE(boost::json::serialize(row));
    if (const auto* range = o.if_contains("delay_range_s")) {
      const std::string mode(o.at("mode").as_string());
      ASSERT_TRUE(mode == "legacy" || mode == "new");
      const BackoffSpec s{Jitter::kFull, mode == "legacy" ? Duration(1s) : Duration(50ms), 20s};
      const Duration lo = core::from_seconds(testing::num(range->as_array()[0]));
      const Duration hi = core::from_seconds(testing::num(range->as_array()[1]));
      Duration max = 0ns;
      for (int i = 0; i < 10000; ++i) {
        const Duration d = Backoff::delay(s, retry, 0ns, r.uniform01());
        ASSERT_GE(d, lo);
        ASSERT_LE(d, hi);
        max = std::max(max, d);
      }
      EXPECT_GT(max, lo + (hi - lo) * 99 / 100);  // the whole range, not a part of it
      ++bounds;
    } else {
      // test_uniform_rand_dist_on_max_attempts: int(delay) roughly uniform, each one-second
      // bucket within 20% of the mean (legacy mode, capped at 20 s).
      ASSERT_EQ(o.at("check").as_string().find("within +-20% of mean") != std::string::npos, true);
      const BackoffSpec s{Jitter::kFull, 1s, 20s};
      const int n = static_cast<int>(o.at("n").as_int64());
      int hist[20] = {};
      for (int i = 0; i < n; ++i) {
        const int bucket =
            static_cast<int>(core::to_seconds(Backoff::delay(s, retry, 0ns, r.uniform01())));
        ASSERT_GE(bucket, 0);
        ASSERT_LT(bucket, 20);
        ++hist[bucket];
      }
      for (int h : hist) EXPECT_NEAR(h, n / 20.0, 0.2 * n / 20.0);
      ++histograms;
    }
  }
  EXPECT_EQ(bounds, 2);
  EXPECT_EQ(histograms, 1);
}

// Seed incident 1: 24 tasks fail at the same instant and back off. Without jitter every
// retry lands in the same millisecond; decorrelated jitter spreads them out.
class RetryStormTest : public ::testing::Test {
 protected:
  // Runs 24 coroutine tasks on SimClock that fail at t0 and sleep their first backoff;
  // returns the retry times in milliseconds after t0.
  std::vector<std::int64_t> retry_times(Jitter jitter) {
    boost::asio::io_context io;
    core::SimClock clock(io);
    const auto t0 = clock.now();
    core::Random root(2024);
    std::vector<std::int64_t> times;
    // One coroutine per task; its state travels in parameters, not lambda captures, so it
    // outlives the spawning expression.
    auto task = [](core::SimClock& clock, core::TimePoint t0, Jitter jitter, core::Random rng,
                   std::vector<std::int64_t>& times) -> boost::asio::awaitable<void> {
      Backoff b({jitter, 100ms, 2s});
      co_await clock.wait_for(b.next(rng));
      times.push_back(
          std::chrono::duration_cast<std::chrono::milliseconds>(clock.now() - t0).count());
    };
    for (int i = 0; i < 24; ++i) {
      boost::asio::co_spawn(io, task(clock, t0, jitter, root.split(), times),
                            boost::asio::detached);
    }
    clock.run();
    return times;
  }
};

TEST_F(RetryStormTest, WithoutJitterAllRetriesLandInTheSameMillisecond) {
  const auto t = retry_times(Jitter::kNone);
  ASSERT_EQ(t.size(), 24u);
  EXPECT_EQ(std::set<std::int64_t>(t.begin(), t.end()).size(), 1u);
  EXPECT_EQ(t.front(), 100);
}

TEST_F(RetryStormTest, DecorrelatedJitterSpreadsTheRetries) {
  const auto t = retry_times(Jitter::kDecorrelated);
  ASSERT_EQ(t.size(), 24u);
  const auto [lo, hi] = std::minmax_element(t.begin(), t.end());
  // U(100 ms, 300 ms): 24 draws spread over most of the 200 ms range...
  EXPECT_GE(*hi - *lo, 150);
  // ...and no millisecond holds more than two of them.
  std::map<std::int64_t, int> per_ms;
  for (auto x : t) ++per_ms[x];
  for (auto [ms, n] : per_ms) EXPECT_LE(n, 2) << ms;
  // No 10 ms bin holds more than a quarter of the fleet (without jitter one holds all 24).
  std::map<std::int64_t, int> per_10ms;
  for (auto x : t) ++per_10ms[x / 10];
  int peak = 0;
  for (auto [bin, n] : per_10ms) peak = std::max(peak, n);
  EXPECT_LE(peak, 24 / 4);
}

}  // namespace
}  // namespace ma::resilience
