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
  // A descriptor's bucket in Envoy's local rate limit: as from_envoy, and its fill interval
  // must be a whole multiple of the global bucket's (`global_fill_interval`), as Envoy requires.
  static core::Result<BucketSpec> from_envoy_descriptor(std::int64_t max_tokens,
                                                        std::int64_t tokens_per_fill,
                                                        Duration fill_interval,
                                                        Duration global_fill_interval);
};

enum class BucketVerdict : std::uint8_t { kAllowed, kRateLimited, kQuotaExhausted };

// The changing part of a bucket. Tables of many buckets that share a spec (per-user limits)
// store only this and pass the spec to the functions below; TokenBucket is the two together.
struct BucketState {
  double tokens = 0;
  TimePoint last{};
  std::int64_t quota_used = 0;
  TimePoint quota_period_start{};

  // A full bucket at `now`.
  static BucketState full(const BucketSpec& spec, TimePoint now) {
    return {spec.burst, now, 0, now};
  }
};

[[nodiscard]] BucketVerdict try_acquire(const BucketSpec& spec, BucketState& state, TimePoint now,
                                        double n = 1.0);
Duration time_until(const BucketSpec& spec, BucketState& state, TimePoint now, double n = 1.0);

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
  std::int64_t quota_used() const { return state_.quota_used; }
  const BucketSpec& spec() const { return spec_; }
  // When this bucket last changed; lets a table of per-user buckets drop idle ones.
  TimePoint last_update() const { return state_.last; }

 private:
  BucketSpec spec_;
  BucketState state_;
};

}  // namespace ma::resilience
