#pragma once
// Backoff with jitter (Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog,
// 2015). With n the 0-based retry index and e = min(cap, base * 2^n):
//   none          e                           (plain exponential: synchronizes clients)
//   full          U(0, e)
//   equal         e/2 + U(0, e/2)
//   decorrelated  min(cap, U(base, 3 * prev)), prev starting at base   (the default)

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/enum_name.hpp"
#include "core/random.hpp"
#include "core/time.hpp"

namespace ma::resilience {

using core::Duration;

enum class Jitter : std::uint8_t { kNone, kFull, kEqual, kDecorrelated };

// The names configs, scenarios and reports spell them with.
inline constexpr core::EnumName<Jitter> kJitterNames[] = {{"none", Jitter::kNone},
                                                          {"full", Jitter::kFull},
                                                          {"equal", Jitter::kEqual},
                                                          {"decorrelated", Jitter::kDecorrelated}};

std::string_view to_string(Jitter j);
std::optional<Jitter> parse_jitter(std::string_view s);

struct BackoffSpec {
  Jitter jitter = Jitter::kDecorrelated;
  Duration base = std::chrono::milliseconds(100);
  Duration cap = std::chrono::seconds(2);
};

// One retry sequence (one request). A value type: no I/O, no clock, no allocation.
// Thread safety: none (each request owns its Backoff).
class Backoff final {
 public:
  explicit Backoff(BackoffSpec spec) : spec_(spec), prev_(spec.base) {}

  // The pure formula. `retry` is the 0-based retry index, `prev` the previous delay
  // (decorrelated only; base for the first retry) and `u` a uniform sample in [0, 1).
  static Duration delay(const BackoffSpec& spec, int retry, Duration prev, double u);

  // The delay before the next retry; advances the sequence.
  Duration next(core::Random& rng) { return next_with(rng.uniform01()); }
  Duration next_with(double u);

  void reset() {
    retry_ = 0;
    prev_ = spec_.base;
  }
  int retries() const { return retry_; }
  const BackoffSpec& spec() const { return spec_; }

 private:
  BackoffSpec spec_;
  int retry_ = 0;
  Duration prev_;
};

}  // namespace ma::resilience
