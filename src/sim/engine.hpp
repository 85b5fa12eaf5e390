#pragma once
// The incident simulator's engine: a whole fleet on virtual time. `tasks` full pipelines
// (the same assist::Pipeline, admission::Admission, cache, resilience and observer objects
// as the server, through the same gateway::ChatFlow), sharing what a fleet shares -- one
// catalog, one response cache, one fleet retry budget, one global admission limit, one set
// of runtime flags -- against simulated regional model capacity and simulated users. One
// thread, one io_context, one SimClock: the same seed gives the same run, byte for byte.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sim/scenario.hpp"

namespace ma::assist {
struct Reply;
}

namespace ma::sim {

// Reply latency histogram: bucket i holds latencies up to 1.05^i ms.
struct LatencyHistogram {
  static constexpr int kBuckets = 260;
  std::array<std::uint32_t, kBuckets> counts{};
  void add(double ms);
  void merge(const LatencyHistogram& o);
  std::uint64_t total() const;
  double quantile_s(double q) const;  // the bucket's upper bound, in seconds; 0 when empty
};

enum class Lane : std::uint8_t { kSonnet, kHaiku };

// One bin of the timeline (one virtual second unless RunOptions::bin_s says otherwise).
struct Bin {
  std::uint32_t offered = 0;      // first sends of legitimate users
  std::uint32_t resent = 0;       // users re-sending after a failed reply
  std::uint32_t abusive = 0;      // messages from scripted sources
  std::uint32_t replies[5] = {};  // legitimate messages by final tier (primary..degraded)
  std::uint32_t too_fast = 0;     // legitimate messages answered "too fast"
  std::uint32_t user_errors = 0;  // legitimate messages whose final reply was a failure
  std::uint32_t to_models = 0;    // legitimate messages that reached a model
  std::uint32_t model_calls[2] = {};
  std::uint32_t model_ok[2] = {};
  std::uint32_t model_throttled[2] = {};
  std::uint32_t model_cancelled[2] = {};  // hedge races lost (counted in model_calls)
  // Replies stating a price the catalog no longer has: as served, without a disclaimer
  // (after the guard), and as the answer source produced it (before the guard, any disclaimer).
  std::uint32_t stale_prices = 0;
  std::uint32_t stale_pre_guard = 0;
  std::uint32_t error_requests = 0;
  std::uint32_t error_traces = 0;         // kept traces of those
  std::uint32_t first_time_too_fast = 0;  // "too fast" to a user's very first message
  std::uint32_t raw_errors = 0;           // replies that showed a provider's error text
  // Messages hit by an error of a shape the gateway did not know (ErrorClass::kUnknown:
  // scenario 4's new format), and the kept traces of those.
  std::uint32_t unknown_errors = 0;
  std::uint32_t unknown_error_traces = 0;
  std::uint32_t support_contacts = 0;  // users who gave up and contacted support
  LatencyHistogram latency;            // of legitimate messages answered, arrival to reply
};

// Figures over a span of bins.
struct Summary {
  double duration_s = 0;
  std::uint64_t messages = 0;  // legitimate messages (first sends and re-sends)
  std::uint64_t originals = 0;
  std::uint64_t resent = 0;
  std::uint64_t user_errors = 0;
  double user_error_rate = 0;
  double p99_latency_s = 0;
  double model_availability = 1;      // successful model calls / model calls
  double primary_availability = 1;    // of the primary's calls
  double secondary_availability = 1;  // of the secondary's calls
  double cache_serve_rate = 0;        // replies from the cache tier / replies
  double retry_amplification = 0;     // model calls / messages that reached a model
  double secondary_throttle_rate = 0;
  std::uint64_t legit_too_fast = 0;
  std::uint64_t stale_price_serves = 0;      // after the guard, without a disclaimer
  std::uint64_t stale_prices_pre_guard = 0;  // as the answer source produced them
  std::uint64_t error_requests = 0;
  std::uint64_t error_traces = 0;
  double error_traces_kept_ratio = 1;
  double user_retry_load = 0;  // re-sent / original messages
  std::uint64_t first_time_too_fast = 0;
  std::uint64_t raw_errors_shown = 0;
  std::uint64_t support_contacts = 0;
  double error_requests_per_hour = 0;
  double error_traces_kept_per_hour = 0;
  std::uint64_t unknown_errors = 0;
  std::uint64_t unknown_error_traces = 0;
  double unknown_error_requests_per_hour = 0;
  double unknown_error_traces_kept_per_hour = 0;
  // Distinct users (filled by the run, not by summarize: a set is not a sum of bins): served
  // a stale price (after the guard, no disclaimer); left without an answer at least once;
  // of those, who re-sent.
  std::uint64_t stale_price_customers = 0;
  std::uint64_t users_failed = 0;
  std::uint64_t users_retried = 0;
  double users_retrying = 0;  // users_retried / users_failed
  std::uint64_t model_calls[2] = {};
  std::uint64_t model_ok[2] = {};
  std::uint64_t model_cancelled[2] = {};
  std::uint64_t model_throttled[2] = {};
  // What the models billed (every lane, over the fleet's pipelines: assist::LaneCounters),
  // by when it was billed; the whole run's and each phase's.
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
  double cost_usd = 0;
};

// One model lane's totals over a run (assist::LaneCounters summed over the fleet).
struct LaneTotals {
  std::string model;
  std::uint64_t calls = 0;
  std::uint64_t hedges = 0;
  std::uint64_t skips = 0;  // every reason
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
  double cost_usd = 0;
};

struct RunOptions {
  std::string data_dir;    // the catalog's data
  std::uint64_t seed = 0;  // 0: the scenario's
  double duration_s = 0;   // 0: the scenario's (tests run shortened copies)
  double bin_s = 1;
  // Called about every 1% of virtual time with the share done.
  std::function<void(double)> progress;
  // Tests: changes each reply before it is counted and read by its user (a degradation
  // message regressed to "try again", say). Null: replies as the gateway wrote them.
  std::function<void(assist::Reply&)> edit_reply;
};

struct RunResult {
  std::string scenario, variant;
  std::uint64_t seed = 0;
  double bin_s = 1;
  double incident_start_s = 0, incident_end_s = 0, duration_s = 0;
  std::vector<Bin> bins;
  Summary total;
  std::array<Summary, 3> phases;  // normal, during, recovery
  std::uint64_t events = 0;       // arrivals, model calls, replies, scenario events
  std::vector<LaneTotals> lanes;  // in cascade order
  // How long the incident hurt, read from the timeline as the seed measured it: `impact_s`
  // from the first to the last second in which users were hurt (more than 5% of the
  // messages of the 5 s centred on it failed), and `recovery_s` how long they were still
  // hurt after the cause went away (the end of the last model fault; 0 for a scenario
  // without one). The seed's 78 s + 35 s: a 45 s constraint, hurting 35 s past its end.
  double impact_s = 0, recovery_s = 0;
  // The largest share of legitimate messages answered "too fast" over any 10 s.
  double peak_too_fast_share = 0;
  // The scenario's [seed_figures] and [targets], for the report and the checks.
  std::vector<SeedFigure> seed_figures, targets;
  double wall_s = 0;
};

// A figure of a run by name (kFigureNames in sim/scenario.hpp): of `phase` (0 normal, 1 during,
// 2 recovery, 3 the whole run) or of the run (impact_s, recovery_s, peak_too_fast_share).
// nullopt for an unknown name.
std::optional<double> figure(const RunResult& r, std::string_view name, int phase = 1);

// A figure during the incident against the range the scenario states for it.
struct FigureCheck {
  SeedFigure spec;
  double got = 0;
  bool within = false;
};
// The incident variant against the seed's figures, any other against the targets.
std::vector<FigureCheck> check_figures(const RunResult& r);

core::Result<RunResult> run(const Scenario& scenario, const std::string& variant,
                            const RunOptions& options);

Summary summarize(const std::vector<Bin>& bins, std::size_t first, std::size_t last, double bin_s);

}  // namespace ma::sim
