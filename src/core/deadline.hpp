#pragma once

#include <algorithm>

#include "core/clock.hpp"

namespace ma::core {

// An absolute point by which work must be finished, computed from an injected Clock.
// A value type; cheap to copy.
class Deadline final {
 public:
  constexpr Deadline() = default;  // never expires
  constexpr explicit Deadline(TimePoint at) : at_(at) {}

  static Deadline after(const Clock& clock, Duration budget) {
    return Deadline(clock.now() + budget);
  }
  static constexpr Deadline never() { return Deadline(); }

  constexpr TimePoint at() const { return at_; }
  constexpr bool is_never() const { return at_ == TimePoint::max(); }
  constexpr bool expired(TimePoint now) const { return now >= at_; }
  // Time left, never negative.
  constexpr Duration remaining(TimePoint now) const {
    return now >= at_ ? Duration::zero() : at_ - now;
  }
  // The earlier of the two.
  constexpr Deadline min(Deadline o) const { return Deadline(std::min(at_, o.at_)); }

 private:
  TimePoint at_ = TimePoint::max();
};

}  // namespace ma::core
