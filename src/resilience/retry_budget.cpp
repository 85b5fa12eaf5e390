#include "resilience/retry_budget.hpp"

#include <algorithm>
#include <cassert>

namespace ma::resilience {

CappedRetryBudget::CappedRetryBudget(int max_retries, Duration window)
    : window_(window), ring_(static_cast<std::size_t>(std::max(0, max_retries))) {}

bool CappedRetryBudget::try_spend(TimePoint now) {
  if (ring_.empty()) return false;
  if (used_ < ring_.size()) {
    ring_[next_] = now;
    next_ = (next_ + 1) % ring_.size();
    ++used_;
    return true;
  }
  // Full: the oldest of the last N retries must have left the window.
  if (now - ring_[next_] < window_) return false;
  ring_[next_] = now;
  next_ = (next_ + 1) % ring_.size();
  return true;
}

double CappedRetryBudget::available(TimePoint now) {
  if (ring_.empty()) return 0;
  std::size_t in_window = 0;
  for (std::size_t i = 0; i < used_; ++i) {
    if (now - ring_[i] < window_) ++in_window;
  }
  return static_cast<double>(ring_.size() - in_window);
}

RatioRetryBudget::RatioRetryBudget(double ratio, double min_per_second, Duration ttl)
    : ratio_(ratio),
      slots_(
          std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(ttl).count())),
      deposits_(static_cast<std::size_t>(slots_), 0.0),
      spent_(static_cast<std::size_t>(slots_), 0.0) {
  assert(ratio >= 0 && ratio <= 1);
  reserve_ = min_per_second * static_cast<double>(slots_);
}

void RatioRetryBudget::advance(TimePoint now) {
  const std::int64_t sec =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (head_second_ == INT64_MIN) {
    head_second_ = sec;
    return;
  }
  if (sec <= head_second_) return;
  const std::int64_t steps = std::min(sec - head_second_, slots_);
  for (std::int64_t i = 1; i <= steps; ++i) {
    const auto idx = static_cast<std::size_t>((head_second_ + i) % slots_);
    total_deposits_ -= deposits_[idx];
    total_spent_ -= spent_[idx];
    deposits_[idx] = 0;
    spent_[idx] = 0;
  }
  head_second_ = sec;
}

double RatioRetryBudget::balance() const { return reserve_ + total_deposits_ - total_spent_; }

void RatioRetryBudget::on_request(TimePoint now) {
  advance(now);
  const auto idx = static_cast<std::size_t>(head_second_ % slots_);
  deposits_[idx] += ratio_;
  total_deposits_ += ratio_;
}

bool RatioRetryBudget::try_spend(TimePoint now) {
  advance(now);
  // A small epsilon absorbs the rounding of many fractional deposits.
  if (balance() < 1.0 - 1e-9) return false;
  const auto idx = static_cast<std::size_t>(head_second_ % slots_);
  spent_[idx] += 1.0;
  total_spent_ += 1.0;
  return true;
}

double RatioRetryBudget::available(TimePoint now) {
  advance(now);
  return std::max(0.0, balance());
}

}  // namespace ma::resilience
