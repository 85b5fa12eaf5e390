#pragma once
// Brooker's 2015 experiment ("Exponential Backoff And Jitter", AWS Architecture Blog), run
// with this project's Backoff on SimClock: N clients each write once to one row under
// optimistic concurrency; a write that overlapped a committed one fails and backs off
// (base 5 ms, cap 2 s). Compare with the reference run of the post's own simulator
// (tests/data/brooker_backoff_sim_reproduced.csv): no jitter does by far the most calls,
// full and decorrelated jitter the fewest.

#include <cstdint>
#include <map>
#include <string>

#include "resilience/backoff.hpp"

namespace ma::sim {

struct JitterOutcome {
  double calls = 0;          // write calls in all (the work)
  double completion_ms = 0;  // when the last client finished
};

// One run per seed, averaged over `runs` seeds from `seed`.
std::map<resilience::Jitter, JitterOutcome> jitter_experiment(int clients, int runs,
                                                              std::uint64_t seed = 12345);

// The reference CSV: clients -> algorithm ("Exponential", "FullJitter", "EqualJitter",
// "Decorr") -> mean calls. Empty when the file cannot be read.
std::map<int, std::map<std::string, double>> read_brooker_reference(const std::string& path);

}  // namespace ma::sim
