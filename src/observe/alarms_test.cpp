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
