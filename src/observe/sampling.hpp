#pragma once
// Trace sampling with AWS X-Ray rules: local rule files (versions 1 and 2) and centralized
// rules (Priority order). First match wins; a rule samples its reservoir (fixed_target per
// wall-clock second) and then a fixed rate.
//
// The decision that counts is taken when the request ends (keep()): a request with an error,
// a fault, a throttle or a degraded reply is always kept, whatever the rule says (seed
// incident 4: 5% uniform sampling hid a new error format). Head sampling only decides the
// share of *successful* requests kept.
//
// Thread safety: Sampler is safe to share; the reservoirs are atomics.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace ma::observe {

// X-Ray wildcard match: '*' any run, '?' one character, case-insensitive.
bool wildcard_match(std::string_view pattern, std::string_view text);

// A missing attribute (nullopt) matches any pattern (X-Ray semantics).
struct SampleRequest {
  std::optional<std::string> host, method, path, service, service_type;
  bool absent = false;  // no request at all: only the default rule applies
};

struct SamplingRule {
  std::string name;
  int priority = 10000;
  std::string host = "*", method = "*", path = "*", service = "*", service_type = "*";
  std::int64_t fixed_target = 1;  // reservoir: traces per second taken before the rate
  double rate = 0.05;
  bool is_default = false;
  bool applies(const SampleRequest& r) const;
};

class Sampler final {
 public:
  // The X-Ray SDK default: 1 per second, then 5%.
  Sampler();
  // A local rule document, version 1 or 2 ({"version", "rules", "default"}).
  static core::Result<std::unique_ptr<Sampler>> from_local_json(std::string_view json);
  // Centralized rules (GetSamplingRules records); sorted by (Priority, RuleName).
  static core::Result<std::unique_ptr<Sampler>> from_centralized_json(std::string_view json);

  // The rule a request falls under (never null: the default matches everything).
  const SamplingRule& match(const SampleRequest& r) const;
  // Head decision for a request at `epoch_second`, with a uniform sample `u` in [0, 1).
  bool should_sample(const SampleRequest& r, std::int64_t epoch_second, double u);
  // Tail decision: errors, faults, throttles and degraded replies are always kept.
  static bool keep(bool head_sampled, bool error_or_degraded) {
    return head_sampled || error_or_degraded;
  }

  const std::vector<SamplingRule>& rules() const { return rules_; }

 private:
  struct Reservoir {
    std::atomic<std::int64_t> second{-1};
    std::atomic<std::int64_t> taken{0};
  };
  void finish();
  std::vector<SamplingRule> rules_;  // the default last
  std::vector<std::unique_ptr<Reservoir>> reservoirs_;
};

}  // namespace ma::observe
