#include "resilience/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

using namespace std::chrono_literals;
using core::Duration;
using core::TimePoint;

const TimePoint kT0{std::chrono::hours(100)};

Duration parse_duration(std::string_view s) {
  if (s.ends_with("ms")) return std::chrono::milliseconds(std::stoll(std::string(s)));
  if (s.ends_with("ns")) return std::chrono::nanoseconds(std::stoll(std::string(s)));
  if (s.ends_with("s")) return std::chrono::seconds(std::stoll(std::string(s)));
  ADD_FAILURE() << "bad duration " << s;
  return {};
}

BreakerState parse_state(std::string_view s) {
  if (s.starts_with("CLOSED")) return BreakerState::kClosed;
  if (s.starts_with("OPEN")) return BreakerState::kOpen;
  return BreakerState::kHalfOpen;
}

class CircuitBreakerTest : public ::testing::Test {
 protected:
  // The Resilience4j CircuitBreakerStateMachineTest set-up.
  static BreakerSpec r4j_spec() {
    BreakerSpec s;
    s.failure_rate_threshold = 50;
    s.permitted_in_half_open = 4;
    s.slow_call_duration = 4s;
    s.slow_call_rate_threshold = 50;
    s.max_wait_in_half_open = 1s;
    s.window_type = WindowType::kTimeBased;
    s.window_size = 20;
    s.minimum_calls = 5;
    s.wait_in_open = 5s;
    return s;
  }

  static void expect_metrics(CircuitBreaker& cb, TimePoint now, const boost::json::value& m) {
    const auto got = cb.metrics(now);
    const auto& a = m.as_array();
    EXPECT_DOUBLE_EQ(got.failure_rate, testing::num(a[0]));
    EXPECT_EQ(got.successful, a[1].as_int64());
    EXPECT_EQ(got.buffered, a[2].as_int64());
    EXPECT_EQ(got.failed, a[3].as_int64());
    EXPECT_EQ(got.not_permitted, a[4].as_int64());
  }
};

// Replays every step-by-step sequence of resilience4j_circuitbreaker.json.
TEST_F(CircuitBreakerTest, ReplaysResilience4jSequences) {
  const auto v = testing::load_json("resilience4j_circuitbreaker.json");
  int replayed = 0;
  for (const auto& seq : v.at("sequences").as_array()) {
    const std::string name(seq.at("name").as_string());
    SCOPED_TRACE(name);
    const auto* steps = seq.as_object().if_contains("steps");
    if (steps == nullptr) continue;  // the permit-count case is its own test below
    CircuitBreaker cb(r4j_spec());
    const auto start = parse_state(seq.at("start").as_string());
    if (start == BreakerState::kOpen) cb.transition_to_open(kT0);
    if (start == BreakerState::kHalfOpen) cb.transition_to_half_open(kT0);
    for (const auto& step : steps->as_array()) {
      const auto& o = step.as_object();
      TimePoint now = kT0;
      if (const auto* at = o.if_contains("at")) {
        const std::string_view s = at->as_string();
        if (s.size() > 3) now = kT0 + parse_duration(s.substr(3));
      }
      const std::string_view call = o.at("call").as_string();
      const Duration d =
          o.contains("duration") ? parse_duration(o.at("duration").as_string()) : 0ns;
      if (call == "error") {
        cb.on_error(now, d);
      } else if (call == "success") {
        cb.on_success(now, d);
      } else {
        ASSERT_EQ(call, "tryAcquirePermission");
        EXPECT_EQ(cb.try_acquire(now), o.at("result").as_bool());
      }
      if (const auto* st = o.if_contains("state")) {
        EXPECT_EQ(cb.state(), parse_state(st->as_string()));
      }
      if (const auto* m = o.if_contains("metrics")) expect_metrics(cb, now, *m);
      if (const auto* m = o.if_contains("metrics_after_transition")) expect_metrics(cb, now, *m);
      if (const auto* e = o.if_contains("expect")) {
        const auto got_snapshot = cb.metrics(now);
        if (const auto* x = e->as_object().if_contains("bufferedCalls")) {
          EXPECT_EQ(got_snapshot.buffered, x->as_int64());
        }
        if (const auto* x = e->as_object().if_contains("slowCalls")) {
          EXPECT_EQ(got_snapshot.slow, x->as_int64());
        }
        if (const auto* x = e->as_object().if_contains("slowCallRate")) {
          EXPECT_DOUBLE_EQ(got_snapshot.slow_call_rate, testing::num(*x));
        }
        if (const auto* x = e->as_object().if_contains("failureRate")) {
          EXPECT_DOUBLE_EQ(got_snapshot.failure_rate, testing::num(*x));
        }
      }
    }
    ++replayed;
  }
  EXPECT_EQ(replayed, 6);
}

TEST_F(CircuitBreakerTest, OnlyPermitsFourCallsInHalfOpen) {
  CircuitBreaker cb(r4j_spec());
  cb.transition_to_half_open(kT0);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(cb.try_acquire(kT0));
  EXPECT_FALSE(cb.try_acquire(kT0));
  cb.release_permission();
  EXPECT_TRUE(cb.try_acquire(kT0));
  EXPECT_FALSE(cb.try_acquire(kT0));
}

TEST_F(CircuitBreakerTest, HalfOpenThatLastsTooLongReopens) {
  CircuitBreaker cb(r4j_spec());
  cb.transition_to_half_open(kT0);
  EXPECT_TRUE(cb.try_acquire(kT0));
  EXPECT_FALSE(cb.try_acquire(kT0 + 1500ms));
  EXPECT_EQ(cb.state(), BreakerState::kOpen);
}

TEST_F(CircuitBreakerTest, SlidingTimeWindowMatchesResilience4j) {
  const auto v = testing::load_json("resilience4j_circuitbreaker.json");
  BreakerSpec s = r4j_spec();
  s.window_size = 5;
  s.minimum_calls = 1000;  // never trips: this case checks the window alone
  CircuitBreaker cb(s);
  TimePoint now = kT0;
  int rows = 0;
  for (const auto& row : v.at("sliding_time_window").at("rows").as_array()) {
    const auto& r = row.as_array();
    const std::string_view adv = r[0].as_string();
    if (adv != "0") now += parse_duration(adv);
    const Duration d = std::chrono::milliseconds(r[2].as_int64());
    if (r[1].as_string() == "ERROR") {
      cb.on_error(now, d);
    } else {
      cb.on_success(now, d);
    }
    const auto m = cb.metrics(now);
    EXPECT_EQ(m.buffered, r[3].as_int64()) << "row " << rows;
    EXPECT_EQ(m.successful, r[4].as_int64()) << "row " << rows;
    EXPECT_EQ(m.failed, r[5].as_int64()) << "row " << rows;
    EXPECT_EQ(m.total_duration, std::chrono::milliseconds(r[6].as_int64())) << "row " << rows;
    ++rows;
  }
  EXPECT_EQ(rows, 10);
}

TEST_F(CircuitBreakerTest, CountBasedWindowForgetsOldCalls) {
  BreakerSpec s;
  s.window_type = WindowType::kCountBased;
  s.window_size = 4;
  s.minimum_calls = 4;
  s.failure_rate_threshold = 75;
  CircuitBreaker cb(s);
  cb.on_error(kT0, 1ms);
  cb.on_error(kT0, 1ms);
  for (int i = 0; i < 4; ++i) cb.on_success(kT0, 1ms);  // the errors slide out
  const auto m = cb.metrics(kT0);
  EXPECT_EQ(m.buffered, 4);
  EXPECT_EQ(m.failed, 0);
  EXPECT_DOUBLE_EQ(m.failure_rate, 0.0);
  cb.on_error(kT0, 1ms);
  cb.on_error(kT0, 1ms);
  EXPECT_EQ(cb.state(), BreakerState::kClosed);  // 50% < 75%
  cb.on_error(kT0, 1ms);
  EXPECT_EQ(cb.state(), BreakerState::kOpen);  // 75%
}

TEST_F(CircuitBreakerTest, ReportsTimeUntilProbeAndNotifiesListener) {
  BreakerSpec s;
  s.minimum_calls = 2;
  s.wait_in_open = 15s;
  CircuitBreaker cb(s);
  std::vector<std::pair<BreakerState, BreakerState>> changes;
  cb.set_listener([&](BreakerState f, BreakerState t, TimePoint) { changes.emplace_back(f, t); });
  EXPECT_EQ(cb.time_until_probe(kT0), 0s);
  cb.on_error(kT0, 1ms);
  cb.on_error(kT0, 1ms);
  ASSERT_EQ(cb.state(), BreakerState::kOpen);
  EXPECT_EQ(cb.time_until_probe(kT0 + 5s), 10s);
  EXPECT_FALSE(cb.try_acquire(kT0 + 15s));  // strictly after the wait
  EXPECT_TRUE(cb.try_acquire(kT0 + 15s + 1ns));
  EXPECT_EQ(cb.state(), BreakerState::kHalfOpen);
  for (int i = 0; i < 3; ++i) cb.on_success(kT0 + 16s, 1ms);
  EXPECT_EQ(cb.state(), BreakerState::kClosed);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0], std::make_pair(BreakerState::kClosed, BreakerState::kOpen));
  EXPECT_EQ(changes[1], std::make_pair(BreakerState::kOpen, BreakerState::kHalfOpen));
  EXPECT_EQ(changes[2], std::make_pair(BreakerState::kHalfOpen, BreakerState::kClosed));
}

}  // namespace
}  // namespace ma::resilience
