#include "resilience/adaptive_rate.hpp"

#include <algorithm>
#include <cmath>

namespace ma::resilience {

double AdaptiveRateLimiter::time_window(double last_max_rate, double beta, double c) {
  return std::cbrt((last_max_rate * (1.0 - beta)) / c);
}

double AdaptiveRateLimiter::cubic_success(double t, double last_max_rate, double last_throttle_time,
                                          double beta, double c) {
  const double w = time_window(last_max_rate, beta, c);
  const double x = t - last_throttle_time - w;
  return c * x * x * x + last_max_rate;
}

void AdaptiveRateLimiter::start(TimePoint now) {
  started_ = true;
  origin_ = now;
  last_tx_rate_bucket_ = 0.0;
}

double AdaptiveRateLimiter::seconds(TimePoint t) const { return core::to_seconds(t - origin_); }

void AdaptiveRateLimiter::refill(TimePoint now) {
  const double t = seconds(now);
  if (!have_last_timestamp_) {
    have_last_timestamp_ = true;
    last_timestamp_ = t;
    return;
  }
  const double fill = (t - last_timestamp_) * fill_rate_;
  current_capacity_ = std::min(max_capacity_, current_capacity_ + fill);
  last_timestamp_ = t;
}

Duration AdaptiveRateLimiter::try_acquire(TimePoint now, double amount) {
  if (!started_) start(now);
  if (!enabled_) return Duration::zero();
  refill(now);
  if (amount > current_capacity_) {
    const double wait_s = (amount - current_capacity_) / fill_rate_;
    return std::max(Duration(1), core::from_seconds(wait_s));
  }
  current_capacity_ -= amount;
  return Duration::zero();
}

std::optional<Duration> AdaptiveRateLimiter::reserve(TimePoint now, Duration max_wait,
                                                     double amount) {
  if (!started_) start(now);
  if (!enabled_) return Duration::zero();
  refill(now);
  // The balance may go below zero: the debt is the queue of reserved slots.
  const double wait_s = amount > current_capacity_ ? (amount - current_capacity_) / fill_rate_ : 0;
  const Duration wait = core::from_seconds(wait_s);
  if (wait > max_wait) return std::nullopt;
  current_capacity_ -= amount;
  return wait;
}

void AdaptiveRateLimiter::update_measured_rate(TimePoint now) {
  const double t = seconds(now);
  const double bucket_s = core::to_seconds(spec_.bucket);
  const double time_bucket = std::floor(t / bucket_s) * bucket_s;
  request_count_ += 1.0;
  if (time_bucket > last_tx_rate_bucket_) {
    const double current_rate = request_count_ / (time_bucket - last_tx_rate_bucket_);
    measured_tx_rate_ =
        current_rate * spec_.smoothing + measured_tx_rate_ * (1.0 - spec_.smoothing);
    request_count_ = 0.0;
    last_tx_rate_bucket_ = time_bucket;
  }
}

void AdaptiveRateLimiter::update_fill_rate(TimePoint now, double new_rate) {
  refill(now);
  fill_rate_ = std::max(new_rate, spec_.min_fill_rate);
  max_capacity_ = std::max(new_rate, spec_.min_capacity);
  current_capacity_ = std::min(current_capacity_, max_capacity_);
}

void AdaptiveRateLimiter::update(TimePoint now, bool throttled) {
  if (!started_) start(now);
  update_measured_rate(now);
  const double t = seconds(now);
  if (throttled) {
    const double rate_to_use =
        enabled_ ? std::min(measured_tx_rate_, fill_rate_) : measured_tx_rate_;
    last_max_rate_ = rate_to_use;
    time_window_ = time_window(last_max_rate_, spec_.beta, spec_.scale_constant);
    last_throttle_time_ = t;
    calculated_rate_ = cubic_throttle(rate_to_use, spec_.beta);
    enabled_ = true;
  } else {
    time_window_ = time_window(last_max_rate_, spec_.beta, spec_.scale_constant);
    calculated_rate_ =
        cubic_success(t, last_max_rate_, last_throttle_time_, spec_.beta, spec_.scale_constant);
  }
  const double new_rate = std::min(calculated_rate_, 2.0 * measured_tx_rate_);
  update_fill_rate(now, new_rate);
}

}  // namespace ma::resilience
