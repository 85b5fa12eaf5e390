#pragma once
// A token bucket with API Gateway semantics: `rate` tokens per second refill a bucket of
// `burst` tokens, which starts full; each request takes tokens; an empty bucket refuses.
// An optional quota caps the tokens taken per fixed period (API Gateway usage plans:
// "1,000 requests per day"), counted from the period boundary.
//
// Refill is continuous (Envoy's newer RateLimitTokenBucket); Envoy's older timer model maps
// onto it as rate = tokens_per_fill / fill_interval (tests/data/envoy_... vectors).
// Pure: every call takes `now`. Thread safety: none; callers serialise.

#include <cstdint>
#include <optional>

#include "core/result.hpp"
#include "core/time.hpp"

namespace ma::resilience {

using core::Duration;
using core::TimePoint;

struct BucketSpec {
  double rate = 1.0;       // tokens per second, >= 0
  double burst = 1.0;      // capacity, > 0
  std::int64_t quota = 0;  // tokens per quota_period; 0 = no quota
  Duration quota_period = std::chrono::hours(24);

  // Envoy TokenBucket{max_tokens, tokens_per_fill, fill_interval}; Envoy refuses fill
  // intervals under 50 ms.
  static core::Result<BucketSpec> from_envoy(std::int64_t max_tokens, std::int64_t tokens_per_fill,
                                             Duration fill_interval);
};

enum class BucketVerdict : std::uint8_t { kAllowed, kRateLimited, kQuotaExhausted };

class TokenBucket final {
 public:
  // The bucket starts full at `now`.
  TokenBucket(BucketSpec spec, TimePoint now);

  // Takes `n` tokens when available. Never partially.
  [[nodiscard]] BucketVerdict try_acquire(TimePoint now, double n = 1.0);
  // Time until `n` tokens will be available (zero if now); Duration::max() when the rate is
  // zero or the quota is spent until the period ends beyond any refill.
  Duration time_until(TimePoint now, double n = 1.0);

  // Changes rate and burst at runtime, keeping the tokens (capped at the new burst).
  void reconfigure(const BucketSpec& spec, TimePoint now);

  double tokens(TimePoint now);
  std::int64_t quota_used() const { return quota_used_; }
  const BucketSpec& spec() const { return spec_; }
  // When this bucket last changed; lets a table of per-user buckets drop idle ones.
  TimePoint last_update() const { return last_; }

 private:
  void refill(TimePoint now);
  void roll_quota(TimePoint now);

  BucketSpec spec_;
  double tokens_;
  TimePoint last_;
  std::int64_t quota_used_ = 0;
  TimePoint quota_period_start_;
};

}  // namespace ma::resilience
