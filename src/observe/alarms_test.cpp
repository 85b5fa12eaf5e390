#include "observe/alarms.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "core/random.hpp"
#include "core/sim_clock.hpp"
#include "resilience/backoff.hpp"

namespace ma::observe {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// 24 tasks (seed incident 1) fail at the same instant and keep failing; each retries five
// times with the given jitter. Returns the retry-correlation alarm after the storm.
AlarmState storm(resilience::Jitter jitter) {
  asio::io_context io;
  core::SimClock clock(io);
  AlarmEngine alarms;
  core::Random root(1234);
  auto task = [](core::SimClock& clock, AlarmEngine& alarms, resilience::Jitter jitter,
                 core::Random rng) -> asio::awaitable<void> {
    resilience::Backoff b({jitter, 100ms, 2s});
    for (int retry = 0; retry < 5; ++retry) {
      co_await clock.wait_for(b.next(rng));
      alarms.record_retry(clock.now());
    }
  };
  for (int i = 0; i < 24; ++i)
    asio::co_spawn(io, task(clock, alarms, jitter, root.split()), asio::detached);
  const auto start = clock.now();
  clock.run();
  // Evaluate right after the last retry, while the whole storm is inside the 10 s window.
  EXPECT_LT(clock.now() - start, 10s);
  for (const auto& a : alarms.evaluate(clock.now())) {
    if (a.name == "retry_correlation") return a;
  }
  ADD_FAILURE() << "no retry_correlation alarm";
  return {};
}

TEST(AlarmsTest, RetryCorrelationFiresForSynchronisedRetries) {
  const AlarmState a = storm(resilience::Jitter::kNone);
  EXPECT_TRUE(a.firing) << a.message;
  EXPECT_GE(a.value, 10);
}

TEST(AlarmsTest, RetryCorrelationStaysQuietForDecorrelatedJitter) {
  const AlarmState a = storm(resilience::Jitter::kDecorrelated);
  EXPECT_FALSE(a.firing) << a.message;
}

TEST(AlarmsTest, ThresholdsOverTheMinute) {
  AlarmEngine e;
  const core::TimePoint t0{std::chrono::hours(2)};
  for (int i = 0; i < 100; ++i) e.record_request(t0 + i * 100ms, i % 10 == 0, i % 4 == 0, false);
  std::map<std::string, AlarmState> by;
  for (auto& a : e.evaluate(t0 + 10s)) by[a.name] = a;
  EXPECT_TRUE(by["error_rate"].firing);          // 10% > 5%
  EXPECT_TRUE(by["degraded_share"].firing);      // 25% > 20%
  EXPECT_FALSE(by["cache_serve_share"].firing);  // 0%
  // A minute later the window has moved on.
  for (auto& a : e.evaluate(t0 + 75s)) EXPECT_FALSE(a.firing) << a.name;
}

TEST(AlarmsTest, ANewErrorCodeIsAnAnomalyAtOnce) {
  AlarmEngine e;
  const core::TimePoint t0{std::chrono::hours(2)};
  // A steady background of throttles for ten minutes...
  for (int s = 0; s < 660; ++s) {
    for (int k = 0; k < 3; ++k)
      e.record_error_code(t0 + std::chrono::seconds(s), "ThrottlingException");
  }
  // ...and a code never seen before, six times in the last minute.
  for (int k = 0; k < 6; ++k) e.record_error_code(t0 + 650s + k * 1s, "TOKENIZER_FAULT");
  std::map<std::string, AlarmState> by;
  for (auto& a : e.evaluate(t0 + 659s)) {
    if (a.name == "error_code_anomaly") by[a.subject] = a;
  }
  EXPECT_TRUE(by["TOKENIZER_FAULT"].firing) << by["TOKENIZER_FAULT"].message;
  EXPECT_FALSE(by["ThrottlingException"].firing) << by["ThrottlingException"].message;
}

TEST(AlarmsTest, MetricAnomalyBandsCatchSurgesAndDrops) {
  const core::TimePoint t0{std::chrono::hours(3)};
  auto run = [&](int last_minute_per_second, int errors_last_minute) {
    AlarmEngine e;
    for (int s = 0; s < 600; ++s) {  // ten steady minutes: 10 requests/s, 1 error a minute
      for (int k = 0; k < 10; ++k)
        e.record_request(t0 + std::chrono::seconds(s), k == 0 && s % 60 == 0, false, false);
    }
    for (int s = 600; s < 660; ++s) {
      for (int k = 0; k < last_minute_per_second; ++k) {
        e.record_request(t0 + std::chrono::seconds(s), k < errors_last_minute && s == 600, false,
                         false);
      }
    }
    std::map<std::string, AlarmState> by;
    for (auto& a : e.evaluate(t0 + 659s)) {
      if (a.name == "metric_anomaly") by[a.subject] = a;
    }
    return by;
  };
  auto steady = run(10, 1);
  EXPECT_FALSE(steady["requests"].firing) << steady["requests"].message;
  EXPECT_FALSE(steady["model_errors"].firing) << steady["model_errors"].message;
  auto surge = run(20, 10);
  EXPECT_TRUE(surge["requests"].firing) << surge["requests"].message;
  EXPECT_TRUE(surge["model_errors"].firing) << surge["model_errors"].message;
  auto drop = run(2, 0);
  EXPECT_TRUE(drop["requests"].firing) << drop["requests"].message;  // traffic vanished
}

TEST(AlarmsTest, BreakerOpenIsAnAlarm) {
  AlarmEngine e;
  e.set_breaker_open("sonnet", true);
  e.set_breaker_open("haiku", false);
  int firing = 0;
  for (auto& a : e.firing(core::TimePoint{std::chrono::hours(1)}))
    firing += a.name == "breaker_open" && a.subject == "sonnet";
  EXPECT_EQ(firing, 1);
}

TEST(AlarmsTest, AClosedBreakerKeepsItsAlarmQuiet) {
  AlarmEngine e;
  const core::TimePoint now{std::chrono::hours(1)};
  e.set_breaker_open("sonnet", true);
  e.set_breaker_open("haiku", false);
  std::map<std::string, AlarmState> breakers;
  for (auto& a : e.evaluate(now)) {
    if (a.name == "breaker_open") breakers[a.subject] = a;
  }
  ASSERT_EQ(breakers.size(), 2u);  // both listed...
  EXPECT_TRUE(breakers["sonnet"].firing);
  EXPECT_FALSE(breakers["haiku"].firing) << breakers["haiku"].message;  // ...one quiet
  std::vector<std::string> firing;
  for (auto& a : e.firing(now)) {
    if (a.name == "breaker_open") firing.push_back(a.subject);
  }
  EXPECT_EQ(firing, std::vector<std::string>{"sonnet"});
  // Closed again: quiet.
  e.set_breaker_open("sonnet", false);
  for (auto& a : e.firing(now)) EXPECT_NE(a.name, "breaker_open") << a.subject;
}

TEST(AlarmsTest, ErrorCodeSubjectsAreBounded) {
  AlarmEngine e;
  const core::TimePoint t0{std::chrono::hours(2)};
  core::Random rng(7);
  std::string last_code;
  for (int i = 0; i < 50; ++i) {
    last_code = "JUNK_" + std::to_string(rng.below(1'000'000'000));
    for (int k = 0; k < 6; ++k) e.record_error_code(t0 + std::chrono::seconds(i), last_code);
  }
  e.record_error_code(t0 + 50s, "ThrottlingException");
  std::map<std::string, AlarmState> by;
  for (auto& a : e.evaluate(t0 + 55s)) {
    if (a.name == "error_code_anomaly") by[a.subject] = a;
  }
  // Eight unknown codes by name, "other" for the rest, and the known code.
  EXPECT_EQ(by.size(), ErrorCodeLabels::kDefaultMaxNovel + 2);
  ASSERT_TRUE(by.contains("other"));
  EXPECT_TRUE(by.contains("ThrottlingException"));
  EXPECT_TRUE(by["other"].firing);
  EXPECT_EQ(by["other"].value, 6 * (50 - static_cast<double>(ErrorCodeLabels::kDefaultMaxNovel)));
  // The shared subject names the latest raw code for the operator.
  EXPECT_NE(by["other"].message.find(last_code), std::string::npos) << by["other"].message;
}

TEST(AlarmsTest, WithNoRoomForUnknownCodesANewCodeFiresAsOther) {
  AlarmEngine e({.max_novel_error_codes = 0});
  const core::TimePoint t0{std::chrono::hours(2)};
  for (int k = 0; k < 6; ++k) e.record_error_code(t0 + k * 1s, "TOKENIZER_FAULT");
  e.record_error_code(t0 + 1s, "bad\"code\nwith junk");
  for (int k = 0; k < 6; ++k) e.record_error_code(t0 + k * 1s, "ThrottlingException");
  std::map<std::string, AlarmState> by;
  for (auto& a : e.evaluate(t0 + 10s)) {
    if (a.name == "error_code_anomaly") by[a.subject] = a;
  }
  EXPECT_EQ(by.size(), 2u);
  EXPECT_TRUE(by["other"].firing);
  EXPECT_EQ(by["other"].value, 7);
  EXPECT_NE(by["other"].message.find("bad?code?with?junk"), std::string::npos)
      << by["other"].message;
  EXPECT_TRUE(by["ThrottlingException"].firing);
}

}  // namespace
}  // namespace ma::observe

namespace ma::observe {
namespace {

using namespace std::chrono_literals;

AlarmState find(const std::vector<AlarmState>& all, std::string_view name,
                std::string_view subject = {}) {
  for (const auto& a : all) {
    if (a.name == name && a.subject == subject) return a;
  }
  ADD_FAILURE() << "no alarm " << name << " " << subject;
  return {};
}

// A lane sampled once a second on a SimClock (the server's periodic tick): `calls` made and
// `skips` skipped each second, for `seconds`.
struct LaneFeed {
  boost::asio::io_context io;
  core::SimClock clock{io};
  AlarmEngine alarms;
  std::uint64_t calls = 0, skips = 0;
  double cost = 0;
  explicit LaneFeed(AlarmConfig c = {}) : alarms(c) {
    alarms.record_lane_totals(clock.now(), "sonnet", 0, 0, 0);
  }
  void run(int seconds, std::uint64_t calls_per_s, std::uint64_t skips_per_s,
           double usd_per_s = 0) {
    for (int i = 0; i < seconds; ++i) {
      clock.advance_by(1s);
      calls += calls_per_s;
      skips += skips_per_s;
      cost += usd_per_s;
      alarms.record_lane_totals(clock.now(), "sonnet", calls, skips, cost);
    }
  }
  AlarmState get(std::string_view name, std::string_view subject = "sonnet") {
    return find(alarms.evaluate(clock.now()), name, subject);
  }
};

TEST(AlarmsTest, SkipsHighFiresOnlyAfterAFullMinuteAboveHalf) {
  LaneFeed f;
  f.run(59, 2, 8);  // 80% skipped, but not yet for 60 s
  EXPECT_FALSE(f.get("model_skips_high").firing) << f.get("model_skips_high").message;
  f.run(2, 2, 8);
  const AlarmState a = f.get("model_skips_high");
  EXPECT_TRUE(a.firing) << a.message;
  EXPECT_NEAR(a.value, 0.8, 1e-9);
  // Recovered: one good second breaks "stays above" at once.
  f.run(1, 10, 0);
  EXPECT_FALSE(f.get("model_skips_high").firing) << f.get("model_skips_high").message;
}

TEST(AlarmsTest, SkipsHighNeedsTrafficAndAMajority) {
  LaneFeed quiet;
  quiet.run(70, 0, 0);
  // 10 skips in a minute, all of them: too little traffic to judge.
  for (int i = 0; i < 10; ++i) {
    quiet.run(5, 0, 0);
    quiet.run(1, 0, 1);
  }
  EXPECT_NEAR(quiet.get("model_skips_high").value, 1.0, 1e-9);
  EXPECT_FALSE(quiet.get("model_skips_high").firing);

  LaneFeed half;
  half.run(120, 5, 5);  // exactly half is not above half
  EXPECT_FALSE(half.get("model_skips_high").firing) << half.get("model_skips_high").message;

  // One second below the threshold inside the window: the ratio did not stay above.
  LaneFeed dip;
  dip.run(30, 1, 9);
  dip.run(1, 9, 1);
  dip.run(30, 1, 9);
  EXPECT_GT(dip.get("model_skips_high").value, 0.5);
  EXPECT_FALSE(dip.get("model_skips_high").firing);
  dip.run(60, 1, 9);
  EXPECT_TRUE(dip.get("model_skips_high").firing);
}

TEST(AlarmsTest, SkipsHighWithoutFreshSamplesIsQuiet) {
  LaneFeed f;
  f.run(90, 1, 9);
  EXPECT_TRUE(f.get("model_skips_high").firing);
  // Nothing recorded for two minutes (no tick, no scrape): no evidence, no alarm.
  f.clock.advance_by(120s);
  EXPECT_FALSE(f.get("model_skips_high").firing);
}

TEST(AlarmsTest, LaneMisconfiguredFiresAtOnceAndSaysWhatToCheck) {
  AlarmEngine e;
  const core::TimePoint t0{std::chrono::hours(2)};
  e.set_lane_misconfigured("sonnet", true, "InvalidSignatureException");
  e.set_lane_misconfigured("haiku", false, "");
  const auto all = e.evaluate(t0);
  const AlarmState s = find(all, "lane_misconfigured", "sonnet");
  EXPECT_TRUE(s.firing);
  EXPECT_NE(s.message.find("InvalidSignatureException"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("credentials"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("model id"), std::string::npos) << s.message;
  EXPECT_FALSE(find(all, "lane_misconfigured", "haiku").firing);
  // A raw code from outside is made printable; a cleared lane is quiet again.
  e.set_lane_misconfigured("sonnet", true, "Access\nDenied<script>");
  EXPECT_EQ(find(e.evaluate(t0), "lane_misconfigured", "sonnet").message.find('\n'),
            std::string::npos);
  e.set_lane_misconfigured("sonnet", false, "");
  EXPECT_FALSE(find(e.evaluate(t0), "lane_misconfigured", "sonnet").firing);
}

TEST(AlarmsTest, SpendHighComparesTheLastMinuteWithTheBudget) {
  LaneFeed f(AlarmConfig{.spend_usd_per_minute = 1.0});
  f.run(120, 10, 0, 0.01);  // $0.60 a minute
  AlarmState a = f.get("spend_high", "");
  EXPECT_FALSE(a.firing) << a.message;
  EXPECT_NEAR(a.value, 0.60, 1e-6);
  f.run(30, 10, 0, 0.05);  // 30 s at $3/min: the last minute is $0.30 + $1.50
  a = f.get("spend_high", "");
  EXPECT_TRUE(a.firing) << a.message;
  EXPECT_NEAR(a.value, 1.80, 1e-6);
  f.run(61, 10, 0, 0);  // spending stopped: the minute empties
  EXPECT_FALSE(f.get("spend_high", "").firing);

  // No budget: listed with the spend, never firing.
  LaneFeed off;
  off.run(30, 10, 0, 1.0);
  a = off.get("spend_high", "");
  EXPECT_FALSE(a.firing);
  EXPECT_NEAR(a.value, 30.0, 1e-6);
}

TEST(AlarmsTest, SpendSumsTheLanes) {
  boost::asio::io_context io;
  core::SimClock clock(io);
  AlarmEngine e(AlarmConfig{.spend_usd_per_minute = 0.5});
  for (int s = 0; s <= 20; ++s) {
    e.record_lane_totals(clock.now(), "sonnet", 0, 0, 0.02 * s);
    e.record_lane_totals(clock.now(), "haiku", 0, 0, 0.01 * s);
    clock.advance_by(1s);
  }
  const AlarmState a = find(e.evaluate(clock.now()), "spend_high");
  EXPECT_NEAR(a.value, 0.60, 1e-6);
  EXPECT_TRUE(a.firing);
}

}  // namespace
}  // namespace ma::observe
