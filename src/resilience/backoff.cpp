#include "resilience/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace ma::resilience {

std::string_view to_string(Jitter j) { return core::enum_name<Jitter>(kJitterNames, j); }

std::optional<Jitter> parse_jitter(std::string_view s) {
  return core::enum_from_name<Jitter>(kJitterNames, s);
}

namespace {
// min(cap, base * 2^retry) without overflow: past 62 doublings any base exceeds any cap.
Duration exponential(const BackoffSpec& spec, int retry) {
  if (retry >= 62) return spec.cap;
  const auto base = spec.base.count();
  const auto cap = spec.cap.count();
  if (base <= 0) return Duration::zero();
  if (base > (cap >> retry)) return spec.cap;
  return Duration(std::min(cap, base << retry));
}
Duration scale(Duration d, double u) {
  return Duration(static_cast<Duration::rep>(static_cast<double>(d.count()) * u));
}
}  // namespace

Duration Backoff::delay(const BackoffSpec& spec, int retry, Duration prev, double u) {
  switch (spec.jitter) {
    case Jitter::kNone:
      return exponential(spec, retry);
    case Jitter::kFull:
      return scale(exponential(spec, retry), u);
    case Jitter::kEqual: {
      const Duration e = exponential(spec, retry);
      return e / 2 + scale(e / 2, u);
    }
    case Jitter::kDecorrelated: {
      const Duration hi = std::max(spec.base, prev * 3);
      return std::min(spec.cap, spec.base + scale(hi - spec.base, u));
    }
  }
  return spec.cap;
}

Duration Backoff::next_with(double u) {
  const Duration d = delay(spec_, retry_, prev_, u);
  ++retry_;
  prev_ = d;
  return d;
}

}  // namespace ma::resilience
