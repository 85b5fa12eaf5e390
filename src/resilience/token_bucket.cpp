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

core::Result<BucketSpec> BucketSpec::from_envoy_descriptor(std::int64_t max_tokens,
                                                           std::int64_t tokens_per_fill,
                                                           Duration fill_interval,
                                                           Duration global_fill_interval) {
  if (global_fill_interval <= Duration::zero() ||
      fill_interval % global_fill_interval != Duration::zero()) {
    return core::fail("invalid_config",
                      "local rate descriptor limit is not a multiple of token bucket fill timer");
  }
  return from_envoy(max_tokens, tokens_per_fill, fill_interval);
}

namespace {

// Also caps the tokens at the burst: a state may come to a smaller spec (a plan changed).
void refill(const BucketSpec& spec, BucketState& st, TimePoint now) {
  if (now > st.last) {
    st.tokens += core::to_seconds(now - st.last) * spec.rate;
    st.last = now;
  }
  st.tokens = std::min(spec.burst, st.tokens);
}

void roll_quota(const BucketSpec& spec, BucketState& st, TimePoint now) {
  if (spec.quota <= 0 || spec.quota_period <= Duration::zero()) return;
  if (now - st.quota_period_start >= spec.quota_period) {
    const auto periods = (now - st.quota_period_start) / spec.quota_period;
    st.quota_period_start += periods * spec.quota_period;
    st.quota_used = 0;
  }
}

}  // namespace

BucketVerdict try_acquire(const BucketSpec& spec, BucketState& st, TimePoint now, double n) {
  refill(spec, st, now);
  roll_quota(spec, st, now);
  if (spec.quota > 0 && static_cast<double>(st.quota_used) + n > static_cast<double>(spec.quota)) {
    return BucketVerdict::kQuotaExhausted;
  }
  if (st.tokens + kEpsilon < n) return BucketVerdict::kRateLimited;
  st.tokens = std::max(0.0, st.tokens - n);
  if (spec.quota > 0) st.quota_used += static_cast<std::int64_t>(std::ceil(n));
  return BucketVerdict::kAllowed;
}

Duration time_until(const BucketSpec& spec, BucketState& st, TimePoint now, double n) {
  refill(spec, st, now);
  roll_quota(spec, st, now);
  if (spec.quota > 0 && static_cast<double>(st.quota_used) + n > static_cast<double>(spec.quota)) {
    return (st.quota_period_start + spec.quota_period) - now;
  }
  if (st.tokens + kEpsilon >= n) return Duration::zero();
  if (spec.rate <= 0 || n > spec.burst) return Duration::max();
  // Rounded up, and never below a microsecond: a wait that rounds to zero would let a caller
  // spin without time passing.
  const double ns = std::ceil((n - st.tokens) / spec.rate * 1e9);
  return std::max<Duration>(std::chrono::microseconds(1), Duration(static_cast<Duration::rep>(ns)));
}

TokenBucket::TokenBucket(BucketSpec spec, TimePoint now)
    : spec_(spec), state_(BucketState::full(spec, now)) {}

BucketVerdict TokenBucket::try_acquire(TimePoint now, double n) {
  return resilience::try_acquire(spec_, state_, now, n);
}

Duration TokenBucket::time_until(TimePoint now, double n) {
  return resilience::time_until(spec_, state_, now, n);
}

void TokenBucket::reconfigure(const BucketSpec& spec, TimePoint now) {
  refill(spec_, state_, now);
  spec_ = spec;
  state_.tokens = std::min(state_.tokens, spec_.burst);
}

double TokenBucket::tokens(TimePoint now) {
  refill(spec_, state_, now);
  return state_.tokens;
}

}  // namespace ma::resilience
