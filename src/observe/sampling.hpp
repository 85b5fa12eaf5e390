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
// The rules a Sampler applies can be replaced while it runs (PUT /admin/sampling, through
// observe/sampling_switch.hpp): SamplingRules is the validated, immutable rule list; the
// Sampler holds the one in force, with its reservoirs.
//
// Thread safety: Sampler is safe to share; should_sample() takes no lock and writes no shared
// cache line beyond the reservoirs (see Sampler).

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
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

// A validated rule list, the default rule last. A value: copy it to keep it.
class SamplingRules final {
 public:
  // A local document takes at most this many rules (the default aside): a bound on what an
  // admin body can make every request walk through.
  static constexpr std::size_t kMaxRules = 1000;

  // The X-Ray SDK default: 1 per second, then 5%.
  SamplingRules();
  // A local rule document, version 1 or 2 ({"version", "rules", "default"}). An error
  // ("invalid_sampling_rules") names what is wrong and where ("rules[2]: rate must be ...").
  static core::Result<SamplingRules> from_local_json(std::string_view json);
  static core::Result<SamplingRules> from_local_document(const boost::json::value& doc);
  // Centralized rules (GetSamplingRules records); sorted by (Priority, RuleName).
  static core::Result<SamplingRules> from_centralized_json(std::string_view json);
  // Only a default rule: `fixed_target` traces a second, then `rate`.
  // REQUIRES: 0 <= rate <= 1, 0 <= fixed_target <= 1e9.
  static SamplingRules fixed(double rate, std::int64_t fixed_target = 0);

  const std::vector<SamplingRule>& rules() const { return rules_; }
  const SamplingRule& default_rule() const { return rules_.back(); }
  // The index of the rule a request falls under (the default's when no other applies).
  std::size_t match_index(const SampleRequest& r) const;

  // A local rule document, version 2, that from_local_document reads back to these rules.
  // NOTE: version 2 has no service name or type: centralized rules that set them lose them.
  boost::json::object to_local_document() const;
  // "1/s then 5% by default, 2 more rules": the default rule and how many others.
  std::string summary() const;

 private:
  std::vector<SamplingRule> rules_;
};

// Applies the rules in force. replace() swaps them for the decisions that start after it
// returns; a decision under way finishes with the rules it started with.
//
// NOTE: the rules in force are a shared_ptr behind a version number. should_sample() reads
// the version (a load of a line that only changes with the rules) and uses the rules this
// thread cached when it last saw that version: no lock and no reference count touched per
// request (libstdc++'s std::atomic<std::shared_ptr> takes a spin lock and bumps a shared
// count on every load). A thread reloads once after each replace(). Each thread keeps alive
// the last rules it used until its next decision (or its end): old rules outlive replace()
// by that much, never more.
class Sampler final {
 public:
  // The X-Ray SDK default: 1 per second, then 5%.
  Sampler();
  explicit Sampler(SamplingRules rules);
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // A local rule document, version 1 or 2 ({"version", "rules", "default"}).
  static core::Result<std::unique_ptr<Sampler>> from_local_json(std::string_view json);
  // Centralized rules (GetSamplingRules records); sorted by (Priority, RuleName).
  static core::Result<std::unique_ptr<Sampler>> from_centralized_json(std::string_view json);

  // Head decision for a request at `epoch_second`, with a uniform sample `u` in [0, 1).
  // Thread-safe, lock-free.
  bool should_sample(const SampleRequest& r, std::int64_t epoch_second, double u);
  // Tail decision: errors, faults, throttles and degraded replies are always kept.
  static bool keep(bool head_sampled, bool error_or_degraded) {
    return head_sampled || error_or_degraded;
  }

  // Puts `rules` in force, with empty reservoirs. Thread-safe (writers are serialised).
  void replace(SamplingRules rules);
  // The rules in force. Thread-safe; the snapshot stays valid however long it is held.
  std::shared_ptr<const SamplingRules> snapshot() const;

  // The rules in force, and the rule a request falls under, by reference: for callers that
  // never replace() concurrently (tests, fuzz targets). REQUIRES: no replace() while the
  // reference is in use; others take snapshot().
  const std::vector<SamplingRule>& rules() const;
  const SamplingRule& match(const SampleRequest& r) const;

 private:
  struct Reservoir {
    std::atomic<std::int64_t> second{-1};
    std::atomic<std::int64_t> taken{0};
  };
  // One set of rules in force, with a reservoir per rule. `version`: unique in the process.
  struct State {
    State(SamplingRules r, std::uint64_t v);
    SamplingRules rules;
    std::vector<std::unique_ptr<Reservoir>> reservoirs;
    std::uint64_t version;
  };
  // The state this thread decides with (reloaded after a replace()).
  const State& current();

  std::mutex write_mu_;                              // replace() against replace()
  std::atomic<std::shared_ptr<const State>> state_;  // stored before version_
  std::atomic<std::uint64_t> version_{0};            // state_'s version, once stored
};

}  // namespace ma::observe
