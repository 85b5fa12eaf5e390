#include "resilience/circuit_breaker.hpp"

#include <algorithm>
#include <cassert>

namespace ma::resilience {

std::string_view to_string(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

void CircuitBreaker::Totals::add(const Totals& o, int sign) {
  calls += sign * o.calls;
  failed += sign * o.failed;
  slow += sign * o.slow;
  duration_ns += sign * o.duration_ns;
}

CircuitBreaker::CircuitBreaker(BreakerSpec spec) : spec_(spec) {
  assert(spec_.window_size > 0 && spec_.permitted_in_half_open > 0);
  reset_window(spec_.window_type, spec_.window_size, spec_.minimum_calls);
}

void CircuitBreaker::reset_window(WindowType type, int size, int minimum) {
  window_type_ = type;
  window_size_ = size;
  window_minimum_ = std::max(1, minimum);
  buckets_.assign(static_cast<std::size_t>(size), Bucket{});
  head_ = 0;
  head_second_ = 0;
  totals_ = Totals{};
  not_permitted_ = 0;
}

void CircuitBreaker::move_window(TimePoint now) {
  if (window_type_ != WindowType::kTimeBased) return;
  const std::int64_t sec =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (totals_.calls == 0) {
    head_second_ = sec;
    return;
  }
  if (sec <= head_second_) return;
  // Evict the buckets of the seconds that fell out of the window.
  const std::int64_t steps = std::min<std::int64_t>(sec - head_second_, window_size_);
  for (std::int64_t i = 1; i <= steps; ++i) {
    auto& b = buckets_[static_cast<std::size_t>((head_second_ + i) % window_size_)];
    totals_.add(b.totals, -1);
    b = Bucket{};
  }
  head_second_ = sec;
}

void CircuitBreaker::record(TimePoint now, bool failed, Duration duration) {
  Totals call;
  call.calls = 1;
  call.failed = failed ? 1 : 0;
  call.slow = duration > spec_.slow_call_duration ? 1 : 0;
  call.duration_ns = duration.count();
  if (window_type_ == WindowType::kCountBased) {
    auto& slot = buckets_[head_];
    totals_.add(slot.totals, -1);
    slot.totals = call;
    head_ = (head_ + 1) % buckets_.size();
  } else {
    move_window(now);
    auto& b = buckets_[static_cast<std::size_t>(head_second_ % window_size_)];
    b.epoch_second = head_second_;
    b.totals.add(call, +1);
  }
  totals_.add(call, +1);
}

BreakerMetrics CircuitBreaker::snapshot() const {
  BreakerMetrics m;
  m.buffered = totals_.calls;
  m.failed = totals_.failed;
  m.successful = totals_.calls - totals_.failed;
  m.slow = totals_.slow;
  m.not_permitted = not_permitted_;
  m.total_duration = Duration(totals_.duration_ns);
  if (totals_.calls >= window_minimum_) {
    m.failure_rate = 100.0 * totals_.failed / totals_.calls;
    m.slow_call_rate = 100.0 * totals_.slow / totals_.calls;
  }
  return m;
}

BreakerMetrics CircuitBreaker::metrics(TimePoint now) {
  move_window(now);
  return snapshot();
}

void CircuitBreaker::set_state(BreakerState to, TimePoint now) {
  const BreakerState from = state_;
  state_ = to;
  state_since_ = now;
  if (listener_ && from != to) listener_(from, to, now);
}

void CircuitBreaker::transition_to_open(TimePoint now) {
  // OPEN keeps the metrics that opened it (as Resilience4j does) and counts refusals.
  set_state(BreakerState::kOpen, now);
}

void CircuitBreaker::transition_to_half_open(TimePoint now) {
  reset_window(WindowType::kCountBased, spec_.permitted_in_half_open, spec_.permitted_in_half_open);
  half_open_permits_ = spec_.permitted_in_half_open;
  set_state(BreakerState::kHalfOpen, now);
}

void CircuitBreaker::transition_to_closed(TimePoint now) {
  reset_window(spec_.window_type, spec_.window_size, spec_.minimum_calls);
  set_state(BreakerState::kClosed, now);
}

void CircuitBreaker::check_half_open_timeout(TimePoint now) {
  if (state_ == BreakerState::kHalfOpen && spec_.max_wait_in_half_open > Duration::zero() &&
      now - state_since_ > spec_.max_wait_in_half_open) {
    transition_to_open(now);
  }
}

bool CircuitBreaker::try_acquire(TimePoint now) {
  check_half_open_timeout(now);
  switch (state_) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      if (now > state_since_ + spec_.wait_in_open) {
        transition_to_half_open(now);
        return try_acquire(now);
      }
      ++not_permitted_;
      return false;
    case BreakerState::kHalfOpen:
      if (half_open_permits_ > 0) {
        --half_open_permits_;
        return true;
      }
      ++not_permitted_;
      return false;
  }
  return false;
}

void CircuitBreaker::release_permission() {
  if (state_ == BreakerState::kHalfOpen) {
    half_open_permits_ = std::min(half_open_permits_ + 1, spec_.permitted_in_half_open);
  }
}

void CircuitBreaker::check_thresholds(TimePoint now) {
  const BreakerMetrics m = snapshot();
  if (m.failure_rate < 0) return;  // below the minimum number of calls
  const bool over = m.failure_rate >= spec_.failure_rate_threshold ||
                    m.slow_call_rate >= spec_.slow_call_rate_threshold;
  if (state_ == BreakerState::kClosed) {
    if (over) transition_to_open(now);
  } else if (state_ == BreakerState::kHalfOpen) {
    if (over) {
      transition_to_open(now);
    } else {
      transition_to_closed(now);
    }
  }
}

void CircuitBreaker::on_success(TimePoint now, Duration duration) {
  check_half_open_timeout(now);
  record(now, /*failed=*/false, duration);
  if (state_ != BreakerState::kOpen) check_thresholds(now);
}

void CircuitBreaker::on_error(TimePoint now, Duration duration) {
  check_half_open_timeout(now);
  record(now, /*failed=*/true, duration);
  if (state_ != BreakerState::kOpen) check_thresholds(now);
}

Duration CircuitBreaker::time_until_probe(TimePoint now) const {
  if (state_ != BreakerState::kOpen) return Duration::zero();
  const TimePoint probe_at = state_since_ + spec_.wait_in_open;
  return probe_at > now ? probe_at - now : Duration::zero();
}

}  // namespace ma::resilience
