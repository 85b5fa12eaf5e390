#pragma once

#include <cstdint>
#include <limits>

#include "core/time.hpp"

namespace ma::core {

// The Random seam: a seeded xoshiro256** generator. Same seed, same sequence, on every
// platform, so simulator runs replay bit for bit. Satisfies UniformRandomBitGenerator and
// works with <random> distributions, but its own helpers are preferred: the standard
// distributions are not specified bit-exactly across library versions.
//
// Thread safety: none; give each thread (or each simulated task) its own, via split().
class Random final {
 public:
  using result_type = std::uint64_t;

  explicit Random(std::uint64_t seed);

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() { return next(); }

  std::uint64_t next();
  // Uniform in [0, 1), 53 bits.
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }
  Duration uniform(Duration lo, Duration hi);
  // Uniform integer in [0, n). REQUIRES: n > 0.
  std::uint64_t below(std::uint64_t n);
  bool chance(double p) { return uniform01() < p; }
  // Exponentially distributed with the given mean (inter-arrival times).
  double exponential(double mean);
  // Standard normal (Box-Muller, one value per call).
  double normal(double mean, double stddev);
  // A generator for a child (a task, a user) whose sequence depends only on this one's.
  Random split() { return Random(next()); }
  std::uint64_t seed() const { return seed_; }

 private:
  std::uint64_t seed_;
  std::uint64_t s_[4];
};

}  // namespace ma::core
