#pragma once
// An incident scenario (scenarios/*.toml): the traffic, the users' behaviour, the models'
// regional capacity and faults, catalog events, and two variants of the gateway's
// configuration -- "incident" (as the seed ran it) and "fixed" (this project's defaults plus
// what the scenario states). docs/simulator.md describes every key.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
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

// The gateway knobs a variant may set; unset means this project's default.
struct Variant {
  std::string name;
  std::optional<resilience::Jitter> jitter;
  std::optional<int> max_attempts;
  std::optional<int> retry_budget_per_minute;  // 0: no fleet budget
  std::optional<double> breaker_wait_s;
  std::optional<double> stagger_max_s;  // 0: every task falls back at once
  // The seed's static global limit: beyond `static_global_rate` a message is refused at
  // once, and the user is told they are "sending messages too fast".
  std::optional<double> static_global_rate;
  std::optional<double> cache_ttl_s;  // one TTL for every kind of answer
  std::optional<bool> cache_first;    // the seed's order: the cache before the models
  std::optional<bool> invalidation;   // price changes invalidate cached answers
  std::optional<bool> price_guard;
  std::optional<bool> disclaimers;     // cached prices carry "prices may have changed"
  std::optional<bool> client_limiter;  // the adaptive client-side rate limiter
  std::optional<bool> client_quota;    // each task keeps to its share of the quotas
  std::optional<bool> hedge;  // a primary slow to its first token is hedged to the secondary
  std::optional<std::string> sampling;     // "rules" (tail: errors kept) | "uniform5"
  std::optional<std::string> degradation;  // v1 | v2
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
};

core::Result<Scenario> load_scenario(const std::string& path);
core::Result<Scenario> parse_scenario(std::string_view toml, const std::string& where);

}  // namespace ma::sim
