#pragma once
// An incident scenario (scenarios/*.toml): the traffic, the users' behaviour, the models'
// regional capacity and faults, catalog events, and two variants of the gateway's
// configuration -- "incident" (as the seed ran it) and "fixed" (this project's defaults plus
// what the scenario states). docs/simulator.md describes every key.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "resilience/backoff.hpp"

namespace ma::sim {

// A change to a model for a window of virtual time.
struct ModelFault {
  double start_s = 0, end_s = 0;
  std::string kind;  // "outage" | "throttle" | "capacity" | "unknown_format" | "latency"
  double value = 0;  // throttle share, capacity (req/s), share of kanji inputs, extra ms
};

struct ModelModel {
  double capacity_rps = 2500;  // regional capacity: beyond it the model throttles (429)
  double quota_rps = 2500;     // the account's quota, known to the gateway
  double latency_median_ms = 900;
  double latency_p99_ms = 2200;
  std::vector<ModelFault> faults;
};

struct Traffic {
  double rate = 30;  // messages/s outside the spike (the day's mean with `daily`)
  // A viral spike: rate -> peak over `spike_ramp_s` from `spike_start_s`, held until
  // `spike_end_s`, then back down over the same ramp. No spike when peak <= rate.
  double spike_start_s = 0, spike_ramp_s = 60, spike_end_s = 0, spike_peak = 0;
  bool daily = false;  // the day's curve: quiet at night, peaks at lunch and 21:00 JST
  int users = 200'000;
  double registered_share = 0.3;  // of users; premium is a part of registered
  double premium_share = 0.05;
  double japanese_share = 0.7;
  // The intent mix of first messages.
  double pricing = 0.45, recommendation = 0.25, faq = 0.1, general = 0.1;
  // Free-form questions, each worded its own way: never in the cache, no live-data answer.
  double freeform = 0.1;
  int hot_products = 40;  // pricing questions are about these (Zipf), the sale's products
  // Recorded traffic instead of the Poisson model: the request log's messages between
  // `from_log_since` and `from_log_until` (RFC 3339; empty: the whole log), replayed
  // `from_log_speedup` times faster (docs/simulator.md, "Your own traffic").
  std::string from_log;
  std::string from_log_since, from_log_until;
  double from_log_speedup = 1;
};

// What a simulated user does after a reply that did not answer them (docs/simulator.md,
// "Users"). The chance of re-sending after a degraded reply is read from the reply itself
// (sim/user_model.hpp): a logistic model whose terms are the reply's features and whose
// coefficients (log-odds) are these. The scenario supplies only the coefficients.
struct Behaviour {
  // A failure that says nothing more ("Something went wrong."): log-odds -0.4, p = 0.40.
  double resend_bias = -0.4;
  // The reply invites a retry ("try again", "please retry", "再度", "もう一度"): users do as
  // told. The status, ETA and on-topic terms then do not apply (an invitation outweighs the
  // reassurance), the user waits for any stated ETA, and re-sends again after each reply
  // that invites it, up to `resend_max` times. Bias + this: p = 0.60 (the seed's v1 message).
  double resend_if_invited = 0.8;
  double resend_per_link = -0.3;     // per link offered (somewhere else to go), up to 3
  double resend_if_status = -0.8;    // it points to the service's status
  double resend_if_eta = -1.0;       // it states when service is expected back
  double resend_if_on_topic = -0.8;  // it names what the user asked about
  int resend_max = 3;                // re-sends of one question after invitations
  // After "you're sending messages too fast": re-sends once, a little later.
  double too_fast_resend = 0.5;
  double resend_min_s = 1, resend_max_s = 5;
  // Share of clients that re-send any failed message once after one second by themselves.
  double auto_retry_share = 0.0;
  // Support contacts: a user left without an answer (no re-send to come) contacts support
  // with a probability read from the last reply, a logistic model like the re-sends'.
  double contact_bias = -1.9;  // a failure that offers nothing ("try again"): p = 0.13
  double contact_per_link = -0.4;
  double contact_if_status = -0.8;
  double contact_if_eta = -1.0;
};

struct Abuse {
  int sources = 0;  // scripted sources, each its own address and session
  double rate = 0;  // messages/s per source
  double start_s = 0, end_s = 0;
};

struct CatalogEvent {
  double at_s = 0;
  std::string kind;  // "sale_start" | "sale_end" (on the hot products)
  int discount_pct = 30;
};

// The gateway knobs a variant may set; unset means this project's default. In the scenario
// file they are grouped (docs/simulator.md, "Variants"): [variant.incident.retry]
// max_attempts = 5, [variant.incident.breaker] wait_s = 30, ... so that a reader sees what
// changed between the incident and the fix, and a sweep names one (`retry.max_attempts`).
struct Variant {
  std::string name;
  // [retry]
  std::optional<resilience::Jitter> jitter;    // jitter
  std::optional<int> max_attempts;             // max_attempts
  std::optional<double> retry_base_ms;         // base_ms: the first backoff
  std::optional<double> retry_cap_ms;          // cap_ms: the longest backoff
  std::optional<int> retry_budget_per_minute;  // budget_per_minute; 0: no fleet budget
  // timeouts_retried: a timed-out attempt is retried on the same model (the seed's SDK)
  // instead of falling through to the next lane.
  std::optional<bool> timeouts_retried;
  // [timeouts]
  std::optional<double> deadline_s;         // deadline_s: the whole request
  std::optional<double> attempt_timeout_s;  // attempt_s: each model call to its first token
  // [breaker]
  std::optional<double> breaker_wait_s;          // wait_s
  std::optional<int> breaker_minimum_calls;      // minimum_calls: before it may open
  std::optional<double> breaker_failure_rate;    // failure_rate: percent of the window
  std::optional<bool> breaker_counts_throttles;  // counts_throttles
  std::optional<int> breaker_window_calls;       // window_calls: a count-based window
  std::optional<int> breaker_window_s;           // window_s: a time-based window
  // [fallback]
  std::optional<double> stagger_max_s;  // stagger_max_s; 0: every task falls back at once
  std::optional<bool> hedge;            // hedge: a primary slow to its first token is hedged
  // [limits]
  // static_global_rate: the seed's static global limit; beyond it a message is refused at
  // once, and the user is told they are "sending messages too fast".
  std::optional<double> static_global_rate;
  std::optional<bool> client_limiter;  // client_limiter: the adaptive client-side limiter
  std::optional<bool> client_quota;    // client_quota: each task keeps to its quota share
  // [tiers]
  std::optional<bool> cache_first;  // cache_first: the seed's order, the cache first
  std::optional<bool> static_tier;  // static: answers from live data and templates
  // cache_only_when_open: while the primary's breakers are open the fleet serves from the
  // cache alone (FM_MODE=cache_only, the seed's runbook step), for one breaker wait.
  std::optional<bool> cache_only_when_open;
  // [cache]
  std::optional<double> cache_ttl_s;  // ttl_s: one TTL for every kind of answer
  std::optional<bool> invalidation;   // invalidation: price changes invalidate answers
  std::optional<bool> disclaimers;    // disclaimers: cached prices say they may have changed
  // [prices]
  std::optional<bool> price_guard;  // guard
  // [observe]
  std::optional<std::string> sampling;  // sampling: "rules" (tail: errors kept) | "uniform5"
  // [messages]
  std::optional<std::string> degradation;  // degradation: v1 | v2
  // raw_errors: a failed reply shows the provider's error text (the seed's chat did).
  std::optional<bool> raw_errors;
};

// The figures a run reports by name (sim::figure in sim/engine.hpp; docs/simulator.md,
// "Figures"): what [seed_figures] and [targets] and the sweeps' columns may name.
inline constexpr std::array<std::string_view, 25> kFigureNames = {
    "user_error_rate",
    "p99_latency_s",
    "primary_availability",
    "secondary_availability",
    "model_availability",
    "cache_serve_rate",
    "retry_amplification",
    "secondary_throttle_rate",
    "impact_s",
    "recovery_s",
    "peak_too_fast_share",
    "legit_too_fast",
    "first_time_too_fast",
    "stale_price_serves",
    "stale_price_customers",
    "stale_prices_pre_guard",
    "error_requests_per_hour",
    "error_traces_kept_per_hour",
    "error_traces_kept_ratio",
    "raw_errors_shown",
    "user_retry_load",
    "users_retrying",
    "support_contacts",
    "unknown_error_requests_per_hour",
    "unknown_error_traces_kept_per_hour"};

// One figure the seed reports for its incident ([seed_figures] in the scenario file), or a
// target the fixed variant must meet ([targets]): the value shown in the report's `seed` column and
// the range a run must land in (during the incident). docs/simulator.md lists the figures.
struct SeedFigure {
  std::string figure;  // a name from kFigureNames
  std::optional<double> value;
  double min = -1e300, max = 1e300;
  std::string note;  // how the seed put it ("the 12.5 s p99 is a timeout")

  // Whether a run's value lands in [min, max]; a figure the run does not report never does.
  bool holds(std::optional<double> got) const { return got && *got >= min && *got <= max; }
};

struct Scenario {
  std::string name, title, description;
  double duration_s = 600;
  double incident_start_s = 0, incident_end_s = 0;  // "during"; before: normal; after: recovery
  int tasks = 24;
  std::uint64_t seed = 1;
  Traffic traffic;
  Behaviour behaviour;
  ModelModel sonnet, haiku;
  std::vector<Abuse> abuse;
  std::vector<CatalogEvent> events;
  std::map<std::string, Variant> variants;  // "incident" and "fixed"
  // The seed's "During incident" figures, which the incident variant must reproduce, and
  // the targets the fixed variant must meet, during the incident.
  std::vector<SeedFigure> seed_figures, targets;
};

core::Result<Scenario> load_scenario(const std::string& path);
core::Result<Scenario> parse_scenario(std::string_view toml, const std::string& where);

}  // namespace ma::sim
