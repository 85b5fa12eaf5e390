#pragma once
// The pipeline after admission: dedupe -> understand -> retrieve -> cascade -> respond.
//
// The cascade tries, in the order configured for the message's intent:
//   primary   the PRIMARY_MODEL (sonnet by default)   breaker, adaptive limiter, retries
//   secondary the other model, after a random stagger  (same policies, its own state)
//   cache     a cached answer (pricing answers carry the staleness disclaimer)
//   static    an answer written from live catalog data
//   degraded  an intent-aware message with status, ETA and links (no banned phrase)
// and always returns exactly one Reply before the deadline.
//
// One engine, two drivers: handle() is a coroutine over the injected Clock, so the server
// (RealClock) and the simulator (SimClock) run this same code.
//
// Thread safety: handle() may run concurrently on many threads; per-model policy state sits
// under a per-model spin lock, held only for decisions (never across a wait or a call out).

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "assist/conversation.hpp"
#include "assist/degradation.hpp"
#include "assist/flags.hpp"
#include "assist/price_guard.hpp"
#include "assist/retrieval.hpp"
#include "assist/understanding.hpp"
#include "cache/response_cache.hpp"
#include "catalog/catalog.hpp"
#include "core/clock.hpp"
#include "core/deadline.hpp"
#include "core/flat_table.hpp"
#include "core/random.hpp"
#include "core/slot_random.hpp"
#include "core/spin_lock.hpp"
#include "core/thread_slot.hpp"
#include "fm/model_provider.hpp"
#include "resilience/adaptive_rate.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/retry_policy.hpp"

namespace ma::assist {

enum class Tier : std::uint8_t { kPrimary, kSecondary, kCache, kStatic, kDegraded };
std::string_view to_string(Tier t);

// What the price guard did to a reply.
enum class GuardOutcome : std::uint8_t {
  kNotChecked,  // no price stated (or the guard is off)
  kOk,          // every stated price is the catalog's
  kCorrected,   // a model's wrong price replaced by live data
  kDisclaimer,  // kept, with the prices-may-have-changed disclaimer
  kEvicted,     // a cached answer with a stale price was dropped and a later tier answered
};
// "" for kNotChecked (the log's empty field), else "ok", "corrected", "disclaimer", "evicted".
std::string_view to_string(GuardOutcome g);
std::optional<Tier> parse_tier(std::string_view s);

// One model lane's own settings, beside the shared policies.
struct LanePolicy {
  // The attempt's budget to its first token (0: from the lane's observed latency, 3x its
  // recent p95 time to first token, within 0.5..2 s; 2 s until it has seen 20 answers).
  core::Duration first_token{};
  // The longest a streamed answer may go silent before the attempt is failed
  // (StreamStalled) and the next lane asked.
  core::Duration idle = std::chrono::seconds(1);
  // After this lane fails mid-answer, the next lane continues the partial answer instead of
  // starting over (the client keeps what it showed).
  bool continue_on_fallback = false;
  // Prices in US dollars per million tokens, for the cost metrics and /status.
  double input_usd_per_mtok = 0;
  double output_usd_per_mtok = 0;
};

// Hedging: when the primary has produced no token `after` the call began (or within its
// recent p95 time to first token, whichever is smaller; never before `min_delay`), the next
// lane is asked too and the first to answer wins; the other is cancelled. A hedge spends a
// retry from the same budgets as a retry (the fleet budget, the lane's client quota), and
// none is made while the other lane is throttled or unavailable.
struct HedgeConfig {
  bool enabled = true;
  core::Duration after = std::chrono::milliseconds(1200);
  core::Duration min_delay = std::chrono::milliseconds(100);
};

// Why a lane was not called for a message (mangaassist_model_skips_total{reason}).
enum class SkipReason : std::uint8_t {
  kClientRateLimited,  // the adaptive client limiter's wait would exceed its cap
  kOverQuota,          // this process's share of the account quota is spent
  kBreakerOpen,
  kMisconfigured,  // the lane is marked broken (credentials, permissions, model id)
};
inline constexpr int kSkipReasonCount = 4;
std::string_view to_string(SkipReason r);

struct PipelineConfig {
  core::Duration deadline = std::chrono::seconds(3);
  // Time kept back from the models for the tiers after them.
  core::Duration reserve = std::chrono::milliseconds(150);
  // The secondary model is called after U(0, stagger_max), bounded by the deadline
  // (seed incident 1: the whole fleet stampeded the fallback model at once).
  core::Duration stagger_max = std::chrono::seconds(2);
  core::Duration dedupe_window = std::chrono::seconds(60);
  // Degraded replies remembered at most (each a whole reply): in a full outage every reply
  // is degraded, 60 s of them at 4,200/s would be 250,000.
  std::size_t dedupe_max_entries = 50'000;
  // Check every price a reply states against the catalog (off only to replay seed
  // incident 3 in the simulator).
  bool price_guard = true;
  // A cached answer about prices says that prices may have changed (off only for replays).
  bool cache_price_disclaimer = true;
  // The adaptive client-side rate limiter in front of each model (off only to replay seed
  // incident 1, whose gateway had none).
  bool client_limiter = true;
  // A model call that gives no first token within its budget fails over to the next lane
  // (off only to replay seed incident 1, whose SDK retried a timed-out call on the same
  // model until its attempts or the deadline ran out).
  bool timeout_falls_through = true;
  // A throttled call counts as a failure in the lane's breaker (off only to replay seed
  // incident 1, whose breakers counted errors and timeouts but not throttles).
  bool breaker_counts_throttles = true;
  // Requests/s this process may send to each model lane (its share of the account's quota),
  // by lane index; missing or 0: no client-side quota.
  std::vector<double> quota_rps;
  // Each lane's own settings, by lane index; missing: the defaults.
  std::vector<LanePolicy> lanes;
  HedgeConfig hedge{};
  // The adaptive limiter never goes below this share of the lane's quota (after one
  // throttle at low traffic it would fall to 0.5/s and skip a burst the model could serve).
  double limiter_floor_share = 0.1;
  // A lane is marked misconfigured after this many calls in a row fail with a configuration
  // error (is_configuration_error), or 4x as many in a row with the same other client error
  // (an unknown 4xx on every call); probed in the background every `probe_interval`
  // (doubling to 1 min) and taken back when a probe succeeds.
  int misconfigured_after = 3;
  core::Duration probe_interval = std::chrono::seconds(5);
  // Recent turns of each conversation, given to the models as context.
  ConversationLimits conversation{};
  // The longest a request waits for the adaptive client limiter's token; beyond it the model
  // tier is skipped (after a throttle at low traffic the AWS limiter may ask for seconds).
  core::Duration max_limiter_wait = std::chrono::milliseconds(250);
  resilience::RetryConfig retry{};
  // A time-based window of 10 s, judged from 5 calls: the breaker judges what the model did
  // lately. (A count-based window of 50 calls took 25 s to open on a model that had turned
  // slow at a task's 1.25 messages/s, in seed scenario 1, hedging every message meanwhile.)
  // NOTE: below 5 calls in 10 s (0.5/s) the breaker does not judge at all; each call is still
  // bounded by its first-token budget and falls through to the next lane.
  resilience::BreakerSpec breaker{
      .window_type = resilience::WindowType::kTimeBased, .window_size = 10, .minimum_calls = 5};
  resilience::AdaptiveRateSpec adaptive{};
  std::array<std::vector<Tier>, kIntentCount> tier_order = default_tier_order();
  std::array<core::Duration, kIntentCount> cache_ttl = default_cache_ttl();

  static std::array<std::vector<Tier>, kIntentCount> default_tier_order();
  static std::array<core::Duration, kIntentCount> default_cache_ttl();
};

struct ModelAttempt {
  std::string model;
  std::string code;                               // the provider's error code; "" when ok
  std::optional<resilience::ErrorClass> error{};  // nullopt: the attempt succeeded
  core::TimePoint start{};
  core::Duration latency{};
  int input_tokens = 0;  // as the provider billed them (failed attempts included)
  int output_tokens = 0;
  bool hedge = false;      // a hedge: made while the primary's attempt was still running
  bool cancelled = false;  // lost the race to the other lane and was cancelled

  bool ok() const { return !error.has_value(); }
  // "ok", "cancelled" (a hedge's loser) or the error code, as logs and alarms name the outcome.
  std::string_view outcome() const {
    return cancelled ? "cancelled" : error ? std::string_view(code) : "ok";
  }
};

struct ChatRequest {
  std::string message;
  // A verified anonymous session (empty: none). Remembered replies and conversation turns
  // are keyed by "u:<user id>" or "s:<session>", never by a bare client string.
  std::string session_id;
  std::optional<catalog::User> user;
  std::string trace_id;
  // Not answered from the remembered degraded replies (dedupe): a question the user left to
  // be answered later is retried, and must not get its own degraded reply back.
  bool skip_dedupe = false;
  // The degradation message version the [degradation] ab experiment assigned this user
  // (assist/degradation_split.hpp); nullopt: no experiment, the flag decides. The flag set to
  // v1 wins either way (shown_version).
  std::optional<DegradationVersion> degradation_version = std::nullopt;
};

struct Reply {
  std::string text;
  Tier tier = Tier::kDegraded;
  Intent intent = Intent::kGeneral;
  fm::Language lang = fm::Language::kEn;
  bool degraded = false;
  bool disclaimer = false;
  bool deduplicated = false;
  std::vector<Action> actions;
  int retry_after_s = 0;
  // The degradation message version this reply shows: set only when its text is the
  // degradation message (tier degraded, from degraded_reply), not for the cache and static
  // tiers (degraded service, but an answer) nor the queue's high-demand reply.
  std::optional<DegradationVersion> degradation_version;
  std::string trace_id;
  std::string model;                                  // the model that wrote the text, if any
  std::string error_code;                             // the last model error code, for logs
  std::optional<resilience::ErrorClass> error_class;  // its class
  std::string error_message;                          // sanitised provider message, for logs only
  std::vector<ModelAttempt> attempts;
  // Tokens billed for this message over every attempt, and what they cost.
  int input_tokens = 0;
  int output_tokens = 0;
  double cost_usd = 0;
  bool hedged = false;  // a hedge was made for this message
  std::vector<std::string> product_ids;
  GuardOutcome price_guard = GuardOutcome::kNotChecked;
  std::string price_guard_product;
  std::vector<int> wrong_prices;
  // The prices the final reply shows, each with its product and the catalog's quote at that
  // moment (the request log's "prices"; `mangaassist report stale-prices` reads them). What
  // the customer was finally shown is what counts: after a correction, the live prices the
  // rewritten text states; a cached answer the guard evicted is not shown, and the tier that
  // answered instead gives its own; a disclaimed answer keeps its wrong prices (shown, with the
  // disclaimer). Streamed text is covered by the final reply, which replaces what was streamed.
  // Read from the text by the guard's own check (also with the guard off, to replay incident
  // 3), or from the quote a live-data answer was written from. Empty: no price stated.
  std::vector<QuotedPrice> prices;
  // What the answer source (a model, the cache) wrote before the price guard corrected,
  // disclaimed or evicted it: the first such text of this message; empty when the guard
  // changed nothing (then `text` is the source's own, plus any cached-price disclaimer).
  // For audits: the simulator counts stale prices before and after the guard.
  std::string unguarded_text;
  core::TimePoint started{};
  core::Duration latency{};
};

// Counters of the cascade, read by /metrics: per thread slot, summed when read (exact totals).
struct PipelineStats {
  core::StatCounter replies[5][kIntentCount];
  core::StatCounter cache_hits[kIntentCount];
  core::StatCounter cache_misses[kIntentCount];
  core::StatCounter stale_serves[kIntentCount];  // cache used as a fallback
  core::StatCounter price_mismatches;
  core::StatCounter deduplicated;
  core::StatCounter dedupe_sweeps;    // passes over the remembered replies
  core::StatCounter dedupe_not_kept;  // degraded replies not remembered: full
  core::StatCounter quota_refusals;   // retries the retry quota refused
  core::StatCounter budget_refusals;  // retries the fleet budget refused
};

// One lane's running totals (cumulative, for counters), read by /metrics.
struct LaneCounters {
  std::string name;
  std::uint64_t calls = 0;                              // attempts made (hedges included)
  std::uint64_t hedges = 0;                             // hedges made to this lane
  std::uint64_t hedge_wins = 0;                         // hedges that answered first
  std::array<std::uint64_t, kSkipReasonCount> skips{};  // by SkipReason
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
  double cost_usd = 0;
  std::uint64_t misconfigured_marks = 0;  // times the lane was marked misconfigured
};

struct ModelStatus {
  std::string name;
  resilience::BreakerState breaker = resilience::BreakerState::kClosed;
  core::Duration time_until_probe{};
  bool limiter_enabled = false;
  double limiter_rate = 0;
  double limiter_floor = 0;  // the rate the limiter never goes below
  int retry_quota = 0;
  // "available", or "misconfigured" (not called; probed in the background) with the code
  // of the error that marked it.
  bool misconfigured = false;
  std::string misconfigured_code;
  // Share of this lane's calls skipped (limiter, quota, breaker, misconfigured) over the
  // last 10 to 20 seconds.
  double skip_rate = 0;
  // Time to first token: the recent p95 (zero until 20 answers) and the budget in force.
  core::Duration ttft_p95{};
  core::Duration first_token_budget{};
};

struct ServiceStatus {
  std::string state;  // normal | degraded | down | limited
  std::vector<ModelStatus> models;
  std::optional<core::Duration> eta;
  // Model spend since midnight UTC (wall clock), over every lane.
  double spend_today_usd = 0;
};

// A piece of a model's answer, streamed before the final reply. Text arrives only after the
// stream guard (assist/stream_guard.hpp) has checked its prices. `attempt` counts model
// calls for this message from 1; when it (or the tier) changes, the client must discard
// what it showed of the earlier attempt (docs/api.md).
struct StreamChunk {
  Tier tier;
  int attempt;
  std::string_view text;
  std::string_view model;  // the lane writing it
};
using TierChunkSink = std::function<void(const StreamChunk&)>;

// The disclaimer a cached pricing answer carries.
std::string_view stale_price_disclaimer(fm::Language lang);

class Pipeline final {
 public:
  struct Deps {
    core::Clock& clock;
    const catalog::Catalog& catalog;
    // The model lanes in cascade order (at least one): by default Sonnet, then Haiku. The
    // lane RuntimeFlags::primary_model() names is tier 1, the others tier 2 in this order.
    std::vector<std::reference_wrapper<fm::ModelProvider>> models;
    cache::ResponseCache& cache;
    RuntimeFlags& flags;
    resilience::RetryBudget* budget;  // null: no fleet budget
    // Shared by pipelines over the same catalog (the simulator's fleet); null: its own.
    UnderstandingMemo* understanding = nullptr;
    // Where calls that wait on the network outside a coroutine run (the fleet's shared
    // cache tier, a blocking Redis client): off the thread that serves requests. None: in
    // place (no shared tier, or the simulator).
    std::optional<boost::asio::any_io_executor> blocking = std::nullopt;
  };

  Pipeline(Deps deps, PipelineConfig config, std::uint64_t seed);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  ~Pipeline();

  // Answers one message. REQUIRES: req.message is valid UTF-8 (the server validates).
  // Always completes, with exactly one Reply, by `deadline` (plus scheduling noise).
  boost::asio::awaitable<Reply> handle(ChatRequest req, TierChunkSink on_chunk,
                                       core::Deadline deadline);
  // The same, into `reply`, which the caller owns; takes what it needs from `req` (both must
  // outlive the call). The drivers use this form: with thousands of messages in flight, a
  // result returned by value is one more copy in one more coroutine frame per message.
  boost::asio::awaitable<void> handle_into(ChatRequest& req, Reply& reply, TierChunkSink on_chunk,
                                           core::Deadline deadline);

  ServiceStatus status() const;
  // What the models can take now (requests/s): each model's `quota`, or its adaptive
  // limiter's rate once that has seen throttles, whichever is lower; summed. Cheap (no
  // strings): admission asks once a second.
  // `feeds`: each lane's quota, by lane index.
  double model_capacity(std::span<const double> feeds) const;
  // When the models are expected back: the soonest breaker probe, if any is open.
  std::optional<core::Duration> eta() const;
  const PipelineConfig& config() const { return config_; }
  const PipelineStats& stats() const { return stats_; }
  std::vector<LaneCounters> lane_counters() const;

 private:
  struct Lane;
  struct LaneResult;
  struct Race;
  // An answer a lane began and could not finish, which the next lane continues
  // (LanePolicy::continue_on_fallback): its text, how much the client was shown, and the
  // attempt and tier it was shown under (the continuation keeps them: nothing to discard).
  struct Continuation {
    std::string text;
    std::size_t shown = 0;
    int attempt = 0;
    Tier tier = Tier::kPrimary;
  };

  // Calls one model lane (limiter, breaker, retries) into `result`.
  // Streamed text goes to `sink` through a StreamGuard checking prices against
  // `guard_product` (empty: no product in context, nothing to check against). In a race
  // (`race` not null), this call is side `side` of it: its first token claims the stream and
  // cancels the other side; a call that lost is cancelled and ends without retrying.
  boost::asio::awaitable<void> call_lane(Lane& lane, fm::ModelRequest& req, core::Random& rng,
                                         const TierChunkSink& sink, std::string_view guard_product,
                                         Tier tier, Reply& reply, LaneResult& result,
                                         Race* race = nullptr, int side = 0,
                                         const Continuation* cont = nullptr);
  // The primary lane with a hedge to `second`: `second` is asked too when `first` has
  // produced no token within its hedge delay. result[0] is first's, result[1] second's.
  // `winner`: the side whose answer won, or -1.
  boost::asio::awaitable<void> race_lanes(Lane& first, Lane& second, fm::ModelRequest& req,
                                          core::Random& rng, const TierChunkSink& sink,
                                          std::string_view guard_product, Reply& reply,
                                          LaneResult (&result)[2], bool& hedged, int& winner);
  // Whether a hedge to `lane` may be made now (not throttled lately, not misconfigured,
  // breaker closed).
  bool may_hedge_to(Lane& lane) const;
  // Spends one retry from the fleet budget for a hedge; false: refused.
  boost::asio::awaitable<bool> spend_hedge();
  // After a lane call: marks the lane misconfigured when its errors say so (true: newly).
  bool note_outcome(Lane& lane, const fm::ModelResult& r);
  // Probes a misconfigured lane until a call succeeds, then takes it back.
  boost::asio::awaitable<void> probe(Lane& lane, std::weak_ptr<void> alive);
  void skip(Lane& lane, SkipReason reason);
  // Records billed tokens: the reply's totals, the lane's counters, today's spend.
  void bill(Lane& lane, int input_tokens, int output_tokens, Reply& reply);

  // Degraded replies by asker and question (a 64-bit hash of both; 0: no asker).
  // `asker` is checked on lookup: the 64-bit key is a fast index, not proof of ownership
  // (a colliding question must never replay another asker's reply).
  std::optional<Reply> dedupe_lookup(std::uint64_t key, std::string_view asker,
                                     core::TimePoint now);
  void dedupe_store(std::uint64_t key, std::string asker, const Reply& r, core::TimePoint now);

  // The steps of handle() that do not wait (see pipeline.cpp).
  bool replay_duplicate(std::uint64_t key, std::string_view asker, Reply& reply);
  // These two end the cascade: they take what they need from `r`.
  void take_model_answer(fm::ModelReply&& answer, Tier tier, Retrieved& r,
                         const std::string& cache_key, Reply& reply);
  // `hit`: the cache's entry for `cache_key`, if any.
  bool answer_from_cache(const Retrieved& r, const std::string& cache_key,
                         std::optional<cache::CachedReply> hit, Reply& reply);
  // The same, asking the shared tier (on an L1 miss) on the blocking executor.
  boost::asio::awaitable<bool> answer_from_shared_cache(const Retrieved& r,
                                                        const std::string& cache_key, Reply& reply);
  bool answer_from_live_data(Retrieved& r, const std::optional<catalog::User>& user, Reply& reply);
  // Fills in the degraded reply when `unanswered` is given, then the common fields.
  void finish(const Retrieved* unanswered, std::optional<DegradationVersion> assigned,
              Reply& reply);

  // Applies the price guard to a reply about `r.product`; true when the text may be served.
  bool guard_prices(const Retrieved& r, Tier tier, Reply& reply);

  Deps deps_;
  PipelineConfig config_;
  PipelineStats stats_;
  std::vector<std::unique_ptr<Lane>> lanes_;  // by Deps::models index
  // Expires with the pipeline: background probes check it before touching anything.
  std::shared_ptr<void> alive_ = std::make_shared<int>(0);
  // Every lane's cost so far, in millionths of a dollar.
  std::int64_t total_micro_usd() const;
  // Today's spend (status()): the running total less its value when the UTC day began.
  mutable core::SpinLock spend_mu_;
  mutable std::int64_t spend_day_ = 0;  // days since the epoch (UTC)
  mutable std::int64_t spend_base_micro_usd_ = 0;
  mutable bool spend_started_ = false;  // a day was seen: later days start from the total
  core::SlotRandom seeds_;  // one generator per worker: a message's own Random is split off
  core::SpinLock dedupe_mu_;
  struct Remembered {
    Reply reply;
    core::TimePoint at;
    std::string asker;
  };
  // Flat (core::FlatTable): most lookups miss, and a miss probes one array instead of a
  // bucket and a chain of nodes.
  core::FlatTable<std::shared_ptr<Remembered>> dedupe_;
  // The size that triggers the next sweep: from kDedupeSweepFloor (or the bound, if lower),
  // then twice what the last sweep kept.
  static constexpr std::size_t kDedupeSweepFloor = 4096;
  std::size_t dedupe_sweep_at_ = kDedupeSweepFloor;
  core::TimePoint dedupe_swept_{};
  ConversationMemory conversations_;
  std::unique_ptr<UnderstandingMemo> own_understanding_;  // when Deps gives none
  UnderstandingMemo& understanding_;
  // What the guard reads in a reply's text, per text (answers repeat word for word).
  PriceReadingMemo price_readings_{&understanding_};
};

}  // namespace ma::assist
