#pragma once
// The AWS SDK "adaptive" client rate limiter (botocore retries/adaptive.py, bucket.py,
// throttling.py; aws-sdk-go-v2 retry/adaptive_ratelimit.go): a token bucket whose fill rate
// follows CUBIC congestion control. Disabled until the first throttle; on a throttle the rate
// drops to beta x the measured send rate; on success it grows along the cubic curve back
// towards (and past) the rate at the last throttle. The rate never exceeds twice the
// measured send rate, and never falls below the minimum fill rate.
//
// Pure: every call takes `now`; acquire never waits but says how long to wait.
// Thread safety: none; callers serialise.

#include <optional>

#include "core/time.hpp"

namespace ma::resilience {

using core::Duration;
using core::TimePoint;

struct AdaptiveRateSpec {
  double beta = 0.7;
  double scale_constant = 0.4;  // C
  double smoothing = 0.8;
  double min_fill_rate = 0.5;  // tokens per second
  double min_capacity = 1.0;
  Duration bucket = std::chrono::milliseconds(500);  // measurement bucket
};

class AdaptiveRateLimiter final {
 public:
  explicit AdaptiveRateLimiter(AdaptiveRateSpec spec = {}) : spec_(spec) {}

  // CUBIC, as pure functions of seconds (the vectors in tests/data/adaptive_cubic.csv).
  // W = ((last_max_rate * (1 - beta)) / C)^(1/3)
  static double time_window(double last_max_rate, double beta, double c);
  // C * (t - last_throttle_time - W)^3 + last_max_rate
  static double cubic_success(double t, double last_max_rate, double last_throttle_time,
                              double beta, double c);
  // rate * beta
  static double cubic_throttle(double rate, double beta) { return rate * beta; }

  // Tries to take one send token at `now`. Returns zero when the request may go now (the
  // token is taken), or how long to wait before asking again (nothing is taken).
  [[nodiscard]] Duration try_acquire(TimePoint now, double amount = 1.0);

  // Reserves the next send slot: returns how long to wait before sending (zero: now), with
  // the token already taken, or nullopt (nothing taken) when that wait would exceed
  // `max_wait`. Waiters are served in order and each sleeps once; with try_acquire, every
  // waiter wakes and asks again at the same instant and all but one go back to sleep.
  [[nodiscard]] std::optional<Duration> reserve(TimePoint now, Duration max_wait,
                                                double amount = 1.0);

  // Records a response: `throttled` when the provider said to slow down.
  void update(TimePoint now, bool throttled);

  bool enabled() const { return enabled_; }
  double fill_rate() const { return fill_rate_; }
  double measured_rate() const { return measured_tx_rate_; }
  double calculated_rate() const { return calculated_rate_; }
  double last_max_rate() const { return last_max_rate_; }

  // Test hooks for the harness semantics of the public vectors.
  void set_cubic_state(double last_max_rate, double last_throttle_time_s) {
    last_max_rate_ = last_max_rate;
    last_throttle_time_ = last_throttle_time_s;
  }
  // Starts measurement at `now` (a fresh limiter "created at t").
  void start(TimePoint now);

 private:
  double seconds(TimePoint t) const;
  void refill(TimePoint now);
  void update_measured_rate(TimePoint now);
  void update_fill_rate(TimePoint now, double new_rate);

  AdaptiveRateSpec spec_;
  bool started_ = false;
  TimePoint origin_{};
  // Token bucket.
  bool enabled_ = false;
  double fill_rate_ = 0.0;
  double max_capacity_ = 0.0;
  double current_capacity_ = 0.0;
  bool have_last_timestamp_ = false;
  double last_timestamp_ = 0.0;
  // Measurement and CUBIC state, in seconds since origin_.
  double measured_tx_rate_ = 0.0;
  double last_tx_rate_bucket_ = 0.0;
  double request_count_ = 0.0;
  double last_max_rate_ = 0.0;
  double last_throttle_time_ = 0.0;
  double time_window_ = 0.0;
  double calculated_rate_ = 0.0;
};

}  // namespace ma::resilience
