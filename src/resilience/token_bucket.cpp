#include "resilience/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace ma::resilience {

namespace {
constexpr double kEpsilon = 1e-9;  // absorbs rounding of rate x elapsed
}

core::Result<BucketSpec> BucketSpec::from_envoy(std::int64_t max_tokens,
                                                std::int64_t tokens_per_fill,
                                                Duration fill_interval) {
  if (fill_interval < std::chrono::milliseconds(50)) {
    return core::fail("invalid_config", "local rate limit token bucket fill timer must be >= 50ms");
  }
  if (max_tokens <= 0 || tokens_per_fill <= 0) {
    return core::fail("invalid_config", "max_tokens and tokens_per_fill must be positive");
  }
  BucketSpec s;
  s.burst = static_cast<double>(max_tokens);
  s.rate = static_cast<double>(tokens_per_fill) / core::to_seconds(fill_interval);
  return s;
}

TokenBucket::TokenBucket(BucketSpec spec, TimePoint now)
    : spec_(spec), tokens_(spec.burst), last_(now), quota_period_start_(now) {}

void TokenBucket::refill(TimePoint now) {
  if (now <= last_) return;
  tokens_ = std::min(spec_.burst, tokens_ + core::to_seconds(now - last_) * spec_.rate);
  last_ = now;
}

void TokenBucket::roll_quota(TimePoint now) {
  if (spec_.quota <= 0 || spec_.quota_period <= Duration::zero()) return;
  if (now - quota_period_start_ >= spec_.quota_period) {
    const auto periods = (now - quota_period_start_) / spec_.quota_period;
    quota_period_start_ += periods * spec_.quota_period;
    quota_used_ = 0;
  }
}

BucketVerdict TokenBucket::try_acquire(TimePoint now, double n) {
  refill(now);
  roll_quota(now);
  if (spec_.quota > 0 && static_cast<double>(quota_used_) + n > static_cast<double>(spec_.quota)) {
    return BucketVerdict::kQuotaExhausted;
  }
  if (tokens_ + kEpsilon < n) return BucketVerdict::kRateLimited;
  tokens_ = std::max(0.0, tokens_ - n);
  if (spec_.quota > 0) quota_used_ += static_cast<std::int64_t>(std::ceil(n));
  return BucketVerdict::kAllowed;
}

Duration TokenBucket::time_until(TimePoint now, double n) {
  refill(now);
  roll_quota(now);
  if (spec_.quota > 0 && static_cast<double>(quota_used_) + n > static_cast<double>(spec_.quota)) {
    return (quota_period_start_ + spec_.quota_period) - now;
  }
  if (tokens_ + kEpsilon >= n) return Duration::zero();
  if (spec_.rate <= 0 || n > spec_.burst) return Duration::max();
  // Rounded up, and never below a microsecond: a wait that rounds to zero would let a caller
  // spin without time passing.
  const double ns = std::ceil((n - tokens_) / spec_.rate * 1e9);
  return std::max<Duration>(std::chrono::microseconds(1), Duration(static_cast<Duration::rep>(ns)));
}

void TokenBucket::reconfigure(const BucketSpec& spec, TimePoint now) {
  refill(now);
  spec_ = spec;
  tokens_ = std::min(tokens_, spec_.burst);
}

double TokenBucket::tokens(TimePoint now) {
  refill(now);
  return tokens_;
}

}  // namespace ma::resilience
