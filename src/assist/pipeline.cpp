#include "assist/pipeline.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <limits>

#include "assist/price_guard.hpp"
#include "assist/stream_guard.hpp"
#include "core/text.hpp"
#include "resilience/token_bucket.hpp"

namespace ma::assist {

namespace asio = boost::asio;
using core::Duration;
using core::TimePoint;
using resilience::BreakerState;
using resilience::ErrorClass;

std::string_view to_string(GuardOutcome g) {
  switch (g) {
    case GuardOutcome::kNotChecked:
      return "";
    case GuardOutcome::kOk:
      return "ok";
    case GuardOutcome::kCorrected:
      return "corrected";
    case GuardOutcome::kDisclaimer:
      return "disclaimer";
    case GuardOutcome::kEvicted:
      return "evicted";
  }
  return "";
}

std::string_view to_string(SkipReason r) {
  switch (r) {
    case SkipReason::kClientRateLimited:
      return "client_rate_limited";
    case SkipReason::kOverQuota:
      return "over_quota";
    case SkipReason::kBreakerOpen:
      return "breaker_open";
    case SkipReason::kMisconfigured:
      return "misconfigured";
  }
  return "";
}

std::string_view to_string(Tier t) {
  switch (t) {
    case Tier::kPrimary:
      return "primary";
    case Tier::kSecondary:
      return "secondary";
    case Tier::kCache:
      return "cache";
    case Tier::kStatic:
      return "static";
    case Tier::kDegraded:
      return "degraded";
  }
  return "degraded";
}

std::optional<Tier> parse_tier(std::string_view s) {
  for (Tier t : {Tier::kPrimary, Tier::kSecondary, Tier::kCache, Tier::kStatic, Tier::kDegraded}) {
    if (to_string(t) == s) return t;
  }
  return std::nullopt;
}

std::string_view stale_price_disclaimer(fm::Language lang) {
  return lang == fm::Language::kJa
             ? "表示価格は最新の情報を反映していない場合があります。ご購入前にご確認ください。"
             : "Prices shown may not reflect the latest updates. Please verify at checkout.";
}

std::array<std::vector<Tier>, kIntentCount> PipelineConfig::default_tier_order() {
  const std::vector<Tier> normal = {Tier::kPrimary, Tier::kSecondary, Tier::kCache, Tier::kStatic,
                                    Tier::kDegraded};
  // For prices and stock, an answer from live data beats a cached one.
  const std::vector<Tier> live_first = {Tier::kPrimary, Tier::kSecondary, Tier::kStatic,
                                        Tier::kCache, Tier::kDegraded};
  std::array<std::vector<Tier>, kIntentCount> o;
  o.fill(normal);
  o[static_cast<int>(Intent::kPricing)] = live_first;
  o[static_cast<int>(Intent::kAvailability)] = live_first;
  o[static_cast<int>(Intent::kOrderStatus)] = live_first;
  return o;
}

std::array<Duration, kIntentCount> PipelineConfig::default_cache_ttl() {
  using namespace std::chrono_literals;
  std::array<Duration, kIntentCount> t{};
  t[static_cast<int>(Intent::kOrderStatus)] = 0s;  // never cached: live and per user
  t[static_cast<int>(Intent::kPricing)] = 15min;
  t[static_cast<int>(Intent::kAvailability)] = 5min;
  t[static_cast<int>(Intent::kRecommendation)] = 4h;
  t[static_cast<int>(Intent::kFaq)] = 24h * 7;
  t[static_cast<int>(Intent::kGeneral)] = 1h;
  return t;
}

namespace {
// Time to first token samples kept per lane, and how many make a p95 worth using.
constexpr std::size_t kTtftSamples = 64;
constexpr std::size_t kTtftMinSamples = 20;
// The skip window: two buckets of this length.
constexpr Duration kSkipBucket = std::chrono::seconds(10);
// A lane is "throttled" for hedging this long after its last throttle.
constexpr Duration kThrottleMemory = std::chrono::seconds(10);
constexpr Duration kMaxProbeInterval = std::chrono::minutes(1);

bool is_capacity_error(const fm::ModelError& e) {
  return e.kind == ErrorClass::kThrottling || e.code == "ServiceUnavailableException";
}

// The prices an answer written from live data states (retrieval's price facts), as `out`: the
// price paid and, during a sale, the list price beside it ("usually ¥1,100"), both from the
// quote it was written from -- no lookup of its own.
void live_prices(const Retrieved& r, std::vector<QuotedPrice>& out) {
  out.clear();
  if (!r.product || !r.quote) return;
  const catalog::Quote& q = *r.quote;
  out.push_back({r.product->id, q.price, q.price, q.list_price});
  if (q.sale != nullptr && q.list_price != q.price) {
    out.push_back({r.product->id, q.list_price, q.price, q.list_price});
  }
}
}  // namespace

struct Pipeline::Lane {
  Lane(fm::ModelProvider& p, const PipelineConfig& c, LanePolicy pol,
       resilience::RetryBudget* budget, double quota_rps, core::TimePoint now)
      : provider(p),
        name(p.name()),
        policy(pol),
        breaker(c.breaker),
        limiter(floored(c.adaptive, c.limiter_floor_share * quota_rps)),
        retry(c.retry, budget),
        limiter_floor(std::max(c.adaptive.min_fill_rate, c.limiter_floor_share * quota_rps)),
        window_start(now) {
    // A burst of at least a few calls: a small share of a quota must not refuse on jitter.
    if (quota_rps > 0)
      quota.emplace(resilience::BucketSpec{quota_rps, std::max(quota_rps, 3.0)}, now);
    publish(now);
  }
  static resilience::AdaptiveRateSpec floored(resilience::AdaptiveRateSpec s, double floor) {
    s.min_fill_rate = std::max(s.min_fill_rate, floor);
    return s;
  }
  fm::ModelProvider& provider;
  const std::string_view name;
  const LanePolicy policy;
  core::SpinLock mu;  // guards breaker, limiter, quota and the fields marked (mu)
  // The account's quota for this model (this process's share): calls beyond it go to the
  // next tier at once instead of drawing throttles that collapse the adaptive limiter.
  std::optional<resilience::TokenBucket> quota;
  resilience::CircuitBreaker breaker;
  resilience::AdaptiveRateLimiter limiter;
  resilience::RetryPolicy retry;  // thread-safe itself
  const double limiter_floor;

  // Time to first token (mu): the last kTtftSamples, and the p95 computed every 16.
  std::array<Duration, kTtftSamples> ttft{};
  std::size_t ttft_count = 0;
  std::atomic<Duration::rep> ttft_p95{0};  // zero until kTtftMinSamples

  // Calls and skips in the current and previous kSkipBucket (mu), for the skip rate.
  TimePoint window_start;
  std::uint32_t calls_now = 0, skips_now = 0, calls_before = 0, skips_before = 0;
  std::atomic<double> shown_skip_rate{0};
  std::atomic<TimePoint::rep> shown_window_start{0};

  // Misconfiguration (mu): consecutive configuration errors, and of one other client code.
  int config_streak = 0;
  int client_streak = 0;
  std::string client_code;
  std::atomic<bool> misconfigured{false};
  core::SpinLock code_mu;
  std::string misconfigured_code;  // (code_mu)
  std::atomic<TimePoint::rep> last_throttle{std::numeric_limits<TimePoint::rep>::min()};

  core::StatCounter calls, hedges, hedge_wins, input_tokens, output_tokens, cost_micro_usd,
      misconfigured_marks;
  std::array<core::StatCounter, kSkipReasonCount> skips;

  // What status(), eta() and model_capacity() read, copied after every decision (under mu)
  // and read without taking it: every reply carries the service status, and a reader must
  // not queue behind the lane's decisions.
  std::atomic<BreakerState> shown_state{BreakerState::kClosed};
  std::atomic<TimePoint::rep> shown_probe_at{0};  // when open: the first probe's time
  std::atomic<bool> shown_limiter_enabled{false};
  std::atomic<double> shown_limiter_rate{0};
  // REQUIRES: mu held.
  void publish(TimePoint now) {
    shown_state.store(breaker.state(), std::memory_order_relaxed);
    shown_probe_at.store((now + breaker.time_until_probe(now)).time_since_epoch().count(),
                         std::memory_order_relaxed);
    shown_limiter_enabled.store(limiter.enabled(), std::memory_order_relaxed);
    shown_limiter_rate.store(limiter.fill_rate(), std::memory_order_relaxed);
  }
  Duration time_until_probe(TimePoint now) const {
    if (shown_state.load(std::memory_order_relaxed) != BreakerState::kOpen) return Duration::zero();
    const TimePoint at{Duration(shown_probe_at.load(std::memory_order_relaxed))};
    return at > now ? at - now : Duration::zero();
  }
  // REQUIRES: mu held. Counts a call or a skip in the skip window.
  void count(TimePoint now, bool skipped) {
    if (now - window_start >= kSkipBucket) {
      const bool adjacent = now - window_start < 2 * kSkipBucket;
      calls_before = adjacent ? calls_now : 0;
      skips_before = adjacent ? skips_now : 0;
      calls_now = skips_now = 0;
      window_start = now;
    }
    (skipped ? skips_now : calls_now) += 1;
    const double total = calls_now + skips_now + calls_before + skips_before;
    shown_skip_rate.store((skips_now + skips_before) / total, std::memory_order_relaxed);
    shown_window_start.store(window_start.time_since_epoch().count(), std::memory_order_relaxed);
  }
  // REQUIRES: mu held.
  void record_ttft(Duration d) {
    ttft[ttft_count % kTtftSamples] = d;
    ++ttft_count;
    if (ttft_count >= kTtftMinSamples && ttft_count % 16 == 4) {
      const std::size_t n = std::min(ttft_count, kTtftSamples);
      std::array<Duration, kTtftSamples> copy = ttft;
      const std::size_t k = (n * 95 + 99) / 100 - 1;
      std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(k),
                       copy.begin() + static_cast<std::ptrdiff_t>(n));
      ttft_p95.store(copy[k].count(), std::memory_order_relaxed);
    }
  }
  Duration p95() const { return Duration(ttft_p95.load(std::memory_order_relaxed)); }
  // The attempt's budget to its first token.
  Duration first_token_budget() const {
    using namespace std::chrono_literals;
    if (policy.first_token > Duration::zero()) return policy.first_token;
    const Duration p = p95();
    if (p <= Duration::zero()) return 2s;
    return std::clamp<Duration>(3 * p, 500ms, 2s);
  }
  bool throttled_recently(TimePoint now) const {
    const auto at = last_throttle.load(std::memory_order_relaxed);
    return at != std::numeric_limits<TimePoint::rep>::min() &&
           now - TimePoint(Duration(at)) < kThrottleMemory;
  }
};

struct Pipeline::LaneResult {
  std::optional<fm::ModelReply> reply;
  std::optional<fm::ModelError> error;
  std::optional<SkipReason> skipped;  // why the lane was not called at all
  bool called = false;                // at least one attempt was made
  bool cancelled = false;             // lost a race
  // A stream that failed after some text: that text, and how much of it the client saw.
  std::string partial;
  std::size_t partial_shown = 0;
  int partial_attempt = 0;
};

// One hedged call: the primary (side 0) and, once its hedge delay passes without a token,
// the next lane (side 1). Every event (a side done, the hedge timer) arrives on one channel,
// so none is lost to a race between waits; the parent returns only after both sides and the
// timer are done, since they use its frame.
struct Pipeline::Race {
  explicit Race(const asio::any_io_executor& ex) : events(ex, 3) {}
  asio::experimental::channel<void(boost::system::error_code, int)> events;  // 0, 1; 2: timer
  std::array<asio::cancellation_signal, 3> cancel;  // by side; 2: the timer
  std::array<bool, 3> running{};
  std::array<bool, 2> cancelled{};
  int owner = -1;  // the side whose token reached the client first
  // The first token of `side`: it owns the stream; the other side and the timer stop.
  bool claim(int side) {
    if (owner >= 0) return owner == side;
    owner = side;
    stop(1 - side);
    if (running[2]) cancel[2].emit(asio::cancellation_type::terminal);
    return true;
  }
  void stop(int side) {
    if (!running[side] || cancelled[side]) return;
    cancelled[side] = true;
    cancel[side].emit(asio::cancellation_type::terminal);
  }
};

Pipeline::Pipeline(Deps deps, PipelineConfig config, std::uint64_t seed)
    : deps_(deps),
      config_(std::move(config)),
      seeds_(seed),
      conversations_(config_.conversation),
      own_understanding_(deps.understanding != nullptr ? nullptr
                                                       : std::make_unique<UnderstandingMemo>()),
      understanding_(deps.understanding != nullptr ? *deps.understanding : *own_understanding_) {
  for (std::size_t i = 0; i < deps_.models.size(); ++i) {
    const double quota = i < config_.quota_rps.size() ? config_.quota_rps[i] : 0;
    const LanePolicy policy = i < config_.lanes.size() ? config_.lanes[i] : LanePolicy{};
    lanes_.push_back(std::make_unique<Lane>(deps_.models[i].get(), config_, policy, deps_.budget,
                                            quota, deps_.clock.now()));
  }
}

Pipeline::~Pipeline() = default;

void Pipeline::skip(Lane& lane, SkipReason reason) {
  lane.skips[static_cast<int>(reason)].fetch_add(1);
  std::lock_guard lock(lane.mu);
  lane.count(deps_.clock.now(), true);
}

void Pipeline::bill(Lane& lane, int input_tokens, int output_tokens, Reply& reply) {
  if (input_tokens <= 0 && output_tokens <= 0) return;
  input_tokens = std::max(input_tokens, 0);
  output_tokens = std::max(output_tokens, 0);
  const double usd = (input_tokens * lane.policy.input_usd_per_mtok +
                      output_tokens * lane.policy.output_usd_per_mtok) /
                     1e6;
  reply.input_tokens += input_tokens;
  reply.output_tokens += output_tokens;
  reply.cost_usd += usd;
  lane.input_tokens.fetch_add(static_cast<std::uint64_t>(input_tokens));
  lane.output_tokens.fetch_add(static_cast<std::uint64_t>(output_tokens));
  const auto micro = static_cast<std::int64_t>(std::llround(usd * 1e6));
  if (micro > 0) lane.cost_micro_usd.fetch_add(static_cast<std::uint64_t>(micro));
}

std::int64_t Pipeline::total_micro_usd() const {
  std::int64_t total = 0;
  for (const auto& lane : lanes_) total += static_cast<std::int64_t>(lane->cost_micro_usd.load());
  return total;
}

bool Pipeline::note_outcome(Lane& lane, const fm::ModelResult& r) {
  bool mark = false;
  std::string code;
  {
    std::lock_guard lock(lane.mu);
    if (r.ok()) {
      lane.config_streak = lane.client_streak = 0;
      return false;
    }
    const fm::ModelError& e = r.error();
    // An unknown model id comes back from Bedrock as a ValidationException.
    const bool bad_model_id =
        e.code == "ValidationException" && e.message.find("model identifier") != std::string::npos;
    if (resilience::is_configuration_error(e.http_status, e.code) || bad_model_id) {
      lane.config_streak += 1;
      lane.client_streak = 0;
      mark = lane.config_streak >= config_.misconfigured_after;
    } else if (!resilience::is_per_message_error(e.code) &&
               (e.kind == ErrorClass::kClient ||
                (e.kind == ErrorClass::kUnknown && e.http_status >= 400 && e.http_status < 500))) {
      // The same client error on every call (an unknown 4xx, a model id the service does not
      // know): one message cannot cause it that often in a row.
      lane.config_streak = 0;
      if (e.code != lane.client_code) {
        lane.client_code = e.code;
        lane.client_streak = 0;
      }
      lane.client_streak += 1;
      mark = lane.client_streak >= 4 * config_.misconfigured_after;
    } else {
      return false;  // throttling, transient, timeout: the breaker's business
    }
    if (!mark || lane.misconfigured.load(std::memory_order_relaxed)) return false;
    lane.misconfigured.store(true, std::memory_order_relaxed);
    code = e.code;
  }
  {
    std::lock_guard lock(lane.code_mu);
    lane.misconfigured_code = code;
  }
  lane.misconfigured_marks.fetch_add(1);
  return true;
}

asio::awaitable<void> Pipeline::probe(Lane& lane, std::weak_ptr<void> alive) {
  // Runs beside the request path on the executor that marked the lane; ends when the lane
  // is back, or when the pipeline is gone.
  co_await asio::this_coro::throw_if_cancelled(false);
  core::Clock& clock = deps_.clock;
  Duration interval = config_.probe_interval;
  for (;;) {
    if (!co_await clock.wait_for(interval) || alive.expired()) co_return;
    fm::ModelRequest req;
    req.model_id = std::string(lane.name);
    req.system = "Reply with one word.";
    req.turns.push_back({"user", "ping"});
    req.deadline = core::Deadline::after(clock, std::chrono::seconds(10));
    const fm::ModelResult r = co_await lane.provider.invoke(req, [](std::string_view) {});
    if (alive.expired()) co_return;
    lane.calls.fetch_add(1);
    if (r.ok()) {
      std::lock_guard lock(lane.mu);
      lane.config_streak = lane.client_streak = 0;
      lane.misconfigured.store(false, std::memory_order_relaxed);
      co_return;
    }
    interval = std::min(2 * interval, std::max(kMaxProbeInterval, config_.probe_interval));
  }
}

bool Pipeline::may_hedge_to(Lane& lane) const {
  const TimePoint now = deps_.clock.now();
  return !lane.misconfigured.load(std::memory_order_relaxed) && !lane.throttled_recently(now) &&
         lane.shown_state.load(std::memory_order_relaxed) == BreakerState::kClosed;
}

asio::awaitable<bool> Pipeline::spend_hedge() {
  // A hedge is a retry by another name: it spends from the same fleet budget (the fleet's
  // Redis budget on the blocking executor, like a retry's).
  if (deps_.budget == nullptr) co_return true;
  bool granted;
  if (deps_.blocking && deps_.budget->may_block()) {
    auto spend = [this]() -> asio::awaitable<bool> {
      co_return deps_.budget->try_spend(deps_.clock.now());
    };
    granted = co_await asio::co_spawn(
        *deps_.blocking, spend,
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  } else {
    granted = deps_.budget->try_spend(deps_.clock.now());
  }
  if (!granted) stats_.budget_refusals.fetch_add(1, std::memory_order_relaxed);
  co_return granted;
}

asio::awaitable<void> Pipeline::call_lane(Lane& lane, fm::ModelRequest& req, core::Random& rng,
                                          const TierChunkSink& sink, std::string_view guard_product,
                                          Tier tier, Reply& reply, LaneResult& result, Race* race,
                                          int side, const Continuation* cont) {
  core::Clock& clock = deps_.clock;
  lane.retry.set_max_attempts(deps_.flags.retry_max_attempts());
  auto attempts = lane.retry.begin(clock.now(), req.deadline);
  req.model_id = std::string(lane.name);
  req.idle_timeout = lane.policy.idle;
  // A continuation is not continued again: one lane finishes what another began.
  const bool keep_partial = lane.policy.continue_on_fallback && cont == nullptr;
  // One guard per attempt (a retry starts over), made only when someone streams.
  std::optional<StreamGuard> guard;
  int attempt_no = 0;
  TimePoint attempt_start{};
  bool first_token = false;
  std::string partial;    // this attempt's text so far (continue_on_fallback)
  std::size_t shown = 0;  // bytes of it the client was sent
  const fm::ChunkSink chunk = [&](std::string_view text) {
    if (!first_token) {
      first_token = true;
      {
        std::lock_guard lock(lane.mu);
        lane.record_ttft(clock.now() - attempt_start);
      }
      if (race != nullptr && !race->claim(side)) return;
    } else if (race != nullptr && race->owner != side) {
      return;  // lost: its text never reaches the client
    }
    if (keep_partial) partial.append(text);
    if (guard) guard->feed(text);
  };
  Tier shown_tier = tier;
  auto new_guard = [&] {
    guard.reset();
    first_token = false;
    partial.clear();
    shown = 0;
    if (!sink) return;
    attempt_no = static_cast<int>(reply.attempts.size()) + 1;
    // Continuing another lane's answer: the first attempt goes on where the client is (same
    // attempt and tier, the unshown rest of that text first); a retry shows it all anew.
    const bool goes_on = cont != nullptr && !result.called;
    if (goes_on) {
      attempt_no = cont->attempt;
      shown_tier = cont->tier;
    } else {
      shown_tier = tier;
    }
    guard.emplace(
        [this, guard_product](std::string_view sentence) {
          if (!config_.price_guard) return true;
          return !check_reply_prices(sentence, guard_product, deps_.catalog, deps_.clock.wall_now(),
                                     &price_readings_)
                      .mismatch;
        },
        [&sink, &shown_tier, &attempt_no, &shown, name = lane.name](std::string_view safe) {
          shown += safe.size();
          sink(StreamChunk{shown_tier, attempt_no, safe, name});
        });
    if (cont != nullptr) {
      guard->feed(
          goes_on ? std::string_view(cont->text).substr(std::min(cont->shown, cont->text.size()))
                  : std::string_view(cont->text));
    }
  };
  auto cancelled = [&] { return race != nullptr && race->cancelled[side]; };
  for (;;) {
    if (cancelled()) {
      result.cancelled = true;
      co_return;
    }
    // Admission to the model: the adaptive client limiter, then the breaker.
    // Each waiter reserves its slot and sleeps once (no herd of pollers).
    if (config_.client_limiter) {
      const Duration room = req.deadline.remaining(clock.now()) - config_.retry.min_attempt_time;
      std::optional<Duration> wait;
      {
        std::lock_guard lock(lane.mu);
        const TimePoint now = clock.now();
        wait = lane.limiter.reserve(now, std::min(config_.max_limiter_wait, room));
        lane.publish(now);
      }
      if (!wait) {
        if (!result.called) {
          result.skipped = SkipReason::kClientRateLimited;
          skip(lane, SkipReason::kClientRateLimited);
        }
        co_return;
      }
      if (*wait > Duration::zero() && (!co_await clock.wait_for(*wait) || cancelled())) {
        result.cancelled = cancelled();
        co_return;
      }
    }
    bool permitted;
    bool within_quota = true;
    {
      const TimePoint now = clock.now();
      std::lock_guard lock(lane.mu);
      if (lane.quota) {
        within_quota = lane.quota->try_acquire(now) == resilience::BucketVerdict::kAllowed;
      }
      permitted = within_quota && lane.breaker.try_acquire(now);
      lane.count(now, !permitted);
      lane.publish(now);
    }
    if (!permitted) {
      const SkipReason why = within_quota ? SkipReason::kBreakerOpen : SkipReason::kOverQuota;
      lane.skips[static_cast<int>(why)].fetch_add(1);
      if (!result.called) result.skipped = why;
      co_return;
    }

    attempt_start = clock.now();
    req.first_token_timeout = lane.first_token_budget();
    new_guard();
    result.called = true;
    lane.calls.fetch_add(1);
    fm::ModelResult r = co_await lane.provider.invoke(req, chunk);
    const TimePoint end = clock.now();
    const bool lost = cancelled();
    const bool throttled = !r.ok() && r.error().kind == ErrorClass::kThrottling;
    {
      std::lock_guard lock(lane.mu);
      if (lost) {
        // Cancelled for the other side. A primary that had not even begun to answer by then
        // was slower than its hedge delay and the other lane's whole answer: that counts
        // against it, as a timeout would, so that a primary slow on every call opens its
        // breaker instead of being hedged (two calls a message) for as long as it is slow.
        // A healthy primary loses so a few percent of its calls, far below the threshold.
        // One that was answering lost fairly. (Side 0 only.)
        const Duration waited = end - attempt_start;
        if (side == 0 && !first_token) {
          lane.breaker.on_error(end, waited);
        } else {
          lane.breaker.release_permission();
        }
        // What it waited without a token is a lower bound of its time to first token: kept,
        // so that a slowing primary raises its p95 instead of hedging ever more.
        if (side == 0 && !first_token) lane.record_ttft(waited);
      } else {
        lane.limiter.update(end, throttled);
        if (r.ok()) {
          lane.breaker.on_success(end, end - attempt_start);
        } else if (r.error().kind == ErrorClass::kClient ||
                   (throttled && !config_.breaker_counts_throttles)) {
          lane.breaker.release_permission();  // our request was wrong, the model is fine
        } else {
          lane.breaker.on_error(end, end - attempt_start);
        }
      }
      lane.publish(end);
    }
    if (throttled) lane.last_throttle.store(end.time_since_epoch().count());
    if (!lost && note_outcome(lane, r)) {
      // Marked misconfigured: no more calls on the request path; probed in the background.
      asio::co_spawn(co_await asio::this_coro::executor, probe(lane, alive_),
                     [](const std::exception_ptr&) {});
    }
    ModelAttempt a{std::string(lane.name), r.ok() ? std::string() : r.error().code,
                   r.ok() ? std::nullopt : std::optional<ErrorClass>(r.error().kind), attempt_start,
                   end - attempt_start};
    a.input_tokens = r.ok() ? r->input_tokens : r.error().input_tokens;
    a.output_tokens = r.ok() ? r->output_tokens : r.error().output_tokens;
    a.hedge = race != nullptr && side == 1;
    a.cancelled = lost;
    bill(lane, a.input_tokens, a.output_tokens, reply);
    reply.attempts.push_back(std::move(a));
    if (lost) {
      result.cancelled = true;
      co_return;
    }
    if (r.ok()) {
      if (guard) guard->finish();
      attempts.on_success();
      result.reply = std::move(r).value();
      if (cont != nullptr) result.reply->text.insert(0, cont->text);
      result.error.reset();
      co_return;
    }
    result.error = r.error();
    if (first_token || (r.error().code == "FirstTokenTimeout" && config_.timeout_falls_through)) {
      // Failed half way through an answer, or never began one within its budget: the next
      // lane answers within the deadline rather than this one starting over (the client
      // discards what it showed, unless the next lane continues it).
      result.partial = std::move(partial);
      result.partial_shown = !guard ? 0 : !guard->stopped() ? shown : std::string::npos;
      result.partial_attempt = attempt_no;
      co_return;
    }
    resilience::RetryDecision decision;
    if (deps_.blocking && attempts.budget_may_block()) {
      // The fleet's budget is a Redis call: decided here, spent on the blocking executor
      // while this thread serves others. Named, not a temporary in the co_await (g++ 12
      // mishandles those).
      decision =
          attempts.decide(r.error().kind, clock.now(), rng.uniform01(), r.error().retry_after);
      if (attempts.budget_pending()) {
        auto spend = [&attempts, &clock]() -> asio::awaitable<bool> {
          co_return attempts.budget().try_spend(clock.now());
        };
        // Not cancellable: a cancellation would be delivered on the blocking pool, into a
        // slot of this side's frame (a hedge's loser is cancelled while it waits here).
        const bool granted = co_await asio::co_spawn(
            *deps_.blocking, spend,
            asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
        decision = attempts.settle(decision, granted, clock.now());
      }
    } else {
      decision = attempts.on_failure(r.error().kind, clock.now(), rng, r.error().retry_after);
    }
    if (decision.verdict == resilience::RetryVerdict::kQuotaExceeded) {
      stats_.quota_refusals.fetch_add(1, std::memory_order_relaxed);
    } else if (decision.verdict == resilience::RetryVerdict::kBudgetExceeded) {
      stats_.budget_refusals.fetch_add(1, std::memory_order_relaxed);
    }
    if (!decision.retry()) co_return;
    if (!co_await clock.wait_for(decision.delay) || cancelled()) {
      result.cancelled = cancelled();
      co_return;
    }
  }
}

asio::awaitable<void> Pipeline::race_lanes(Lane& first, Lane& second, fm::ModelRequest& req,
                                           core::Random& rng, const TierChunkSink& sink,
                                           std::string_view guard_product, Reply& reply,
                                           LaneResult (&result)[2], bool& hedged, int& winner) {
  core::Clock& clock = deps_.clock;
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  Race race(ex);
  std::optional<fm::ModelRequest> second_req;
  auto done = [&race](int side) {
    return asio::bind_cancellation_slot(
        race.cancel[side].slot(), [&race, side](const std::exception_ptr&) {
          race.running[side] = false;
          (void)race.events.try_send(boost::system::error_code{}, side);
        });
  };
  auto run_side = [&](int side, Lane& lane, fm::ModelRequest& r,
                      Tier tier) -> asio::awaitable<void> {
    // A cancelled side finishes its bookkeeping instead of unwinding by exception.
    co_await asio::this_coro::throw_if_cancelled(false);
    try {
      co_await call_lane(lane, r, rng, sink, guard_product, tier, reply, result[side], &race, side);
    } catch (const std::exception& e) {
      // Never expected (providers do not throw); the side fails like any other call.
      fm::ModelError err;
      err.kind = ErrorClass::kUnknown;
      err.code = err.raw_code = "InternalError";
      err.message = e.what();
      result[side].error = std::move(err);
    }
  };
  // The hedge: its delay from the primary's recent p95 to first token and its budget.
  Duration delay = std::min(config_.hedge.after, first.first_token_budget());
  if (const Duration p = first.p95(); p > Duration::zero()) delay = std::min(delay, p);
  delay = std::max(delay, config_.hedge.min_delay);
  const TimePoint hedge_at = clock.now() + delay;
  bool timer_fired = false;
  auto timer = [&]() -> asio::awaitable<void> {
    co_await asio::this_coro::throw_if_cancelled(false);
    timer_fired = co_await clock.sleep_until(hedge_at);
  };

  race.running = {true, false, true};
  asio::co_spawn(ex, run_side(0, first, req, Tier::kPrimary), done(0));
  asio::co_spawn(ex, timer(), done(2));
  int outstanding = 2;
  while (outstanding > 0) {
    // Not cancellable: the sides and the timer use this frame, so it waits for all of them.
    auto [ec, which] = co_await race.events.async_receive(asio::bind_cancellation_slot(
        asio::cancellation_slot(), asio::as_tuple(asio::use_awaitable)));
    if (ec) break;  // never: the channel is not closed while sides run
    --outstanding;
    if (which == 2) {
      const bool primary_waiting = race.running[0] && race.owner < 0;
      const Duration room = req.deadline.remaining(clock.now());
      bool hedge = timer_fired && primary_waiting && room > config_.retry.min_attempt_time &&
                   may_hedge_to(second);
      if (hedge) {
        // Named, not in the condition (g++ 12 mishandles co_await inside expressions).
        const bool granted = co_await spend_hedge();
        hedge = granted && race.running[0] && race.owner < 0;  // the spend may have waited
      }
      if (hedge) {
        hedged = true;
        second_req.emplace(req);
        race.running[1] = true;
        ++outstanding;
        asio::co_spawn(ex, run_side(1, second, *second_req, Tier::kSecondary), done(1));
      }
      continue;
    }
    if (result[which].reply && winner < 0) {
      winner = which;
      race.stop(1 - which);  // the first good answer wins
      if (which == 1) second.hedge_wins.fetch_add(1);
    }
    if (which == 0 && race.running[2]) race.cancel[2].emit(asio::cancellation_type::terminal);
  }
}

bool Pipeline::guard_prices(const Retrieved& r, Tier tier, Reply& reply) {
  // Against the catalog as it is now, not the snapshot retrieval took: a price can change
  // while a model is writing (a sale ending mid-answer). Each price is checked against the
  // product named next to it, else the one asked about (unchecked if there is none).
  // The prices read are what the request log records of the reply (Reply::prices) -- with the
  // guard off too (a replay of incident 3), where nothing acts on them.
  std::vector<QuotedPrice> quoted;
  const PriceCheck c = check_reply_prices(
      reply.text, r.product ? std::string_view(r.product->id) : std::string_view(), deps_.catalog,
      deps_.clock.wall_now(), &price_readings_, &quoted);
  if (!config_.price_guard || !c.mismatch) {
    if (config_.price_guard && c.checked) reply.price_guard = GuardOutcome::kOk;
    reply.prices = std::move(quoted);
    return true;
  }
  stats_.price_mismatches.fetch_add(1, std::memory_order_relaxed);
  if (reply.unguarded_text.empty()) reply.unguarded_text = reply.text;
  reply.price_guard_product = r.product ? r.product->id : std::string();
  reply.wrong_prices = c.wrong;
  if (tier == Tier::kCache) {
    reply.price_guard = GuardOutcome::kEvicted;
    return false;  // never serve it; a later tier answers from live data
  }
  if (r.answerable) {
    reply.price_guard = GuardOutcome::kCorrected;
    // Rewritten from live data read now (prices need no user).
    const Retrieved fresh = retrieve(*r.u, std::nullopt, deps_.catalog, deps_.clock.wall_now());
    reply.text = fresh.answerable ? fresh.facts.draft : r.facts.draft;
    // What is shown now: the rewritten text's prices, not the wrong ones.
    live_prices(fresh.answerable ? fresh : r, reply.prices);
  } else {
    reply.price_guard = GuardOutcome::kDisclaimer;
    reply.text += r.u->lang == fm::Language::kJa ? "" : " ";
    reply.text += stale_price_disclaimer(r.u->lang);
    reply.disclaimer = true;
    reply.prices = std::move(quoted);  // shown as they are, under the disclaimer
  }
  return true;
}

std::optional<Reply> Pipeline::dedupe_lookup(std::uint64_t key, std::string_view asker,
                                             TimePoint now) {
  std::lock_guard lock(dedupe_mu_);
  if (dedupe_.size() == 0) return std::nullopt;
  const auto* found = dedupe_.find(key);
  if (found == nullptr || (*found)->asker != asker) return std::nullopt;
  if (now - (*found)->at > config_.dedupe_window) {
    dedupe_.erase(key);
    return std::nullopt;
  }
  return (*found)->reply;
}

void Pipeline::dedupe_store(std::uint64_t key, std::string asker, const Reply& r, TimePoint now) {
  std::lock_guard lock(dedupe_mu_);
  const std::size_t max = config_.dedupe_max_entries;
  // Expired replies are forgotten in sweeps, amortised: the next waits for the map to double
  // (up to its bound), and a full map of fresh replies is swept at most once a second.
  const bool full = dedupe_.size() >= max;
  const std::size_t floor = std::min(kDedupeSweepFloor, max);
  if (dedupe_.size() >= std::min(dedupe_sweep_at_, max) &&
      (!full || now - dedupe_swept_ >= std::chrono::seconds(1))) {
    dedupe_.rebuild_without(
        [&](const std::shared_ptr<Remembered>& e) { return now - e->at > config_.dedupe_window; });
    dedupe_swept_ = now;
    dedupe_sweep_at_ = std::clamp<std::size_t>(2 * dedupe_.size(), floor, max);
    stats_.dedupe_sweeps.fetch_add(1, std::memory_order_relaxed);
  }
  if (dedupe_.size() >= max && dedupe_.find(key) == nullptr) {
    stats_.dedupe_not_kept.fetch_add(1, std::memory_order_relaxed);
    return;  // bounded: this asker's next identical question goes through the cascade
  }
  std::shared_ptr<Remembered>& slot =
      dedupe_.find_or_insert(key, [] { return std::make_shared<Remembered>(); });
  *slot = Remembered{r, now, std::move(asker)};
}

// The synchronous steps of handle() are member functions of their own: a coroutine keeps
// every local in its heap frame for the whole call, and thousands of messages are in flight.

bool Pipeline::replay_duplicate(std::uint64_t key, std::string_view asker, Reply& reply) {
  auto prev = dedupe_lookup(key, asker, deps_.clock.now());
  if (!prev) return false;
  const TimePoint started = reply.started;
  std::string trace_id = std::move(reply.trace_id);
  reply = std::move(*prev);
  reply.deduplicated = true;
  reply.trace_id = std::move(trace_id);
  reply.attempts.clear();
  // The same text again, its prices against the catalog as it is now (the log's "prices" say
  // what each quote is at this moment; a replay is not checked again).
  const core::WallTime wall = deps_.clock.wall_now();
  for (QuotedPrice& p : reply.prices) {
    if (const auto q = deps_.catalog.quote(p.product_id, wall)) {
      p.catalog_yen = q->price;
      p.list_yen = q->list_price;
    }
  }
  reply.started = started;
  reply.latency = deps_.clock.now() - started;
  stats_.deduplicated.fetch_add(1, std::memory_order_relaxed);
  stats_.replies[static_cast<int>(reply.tier)][static_cast<int>(reply.intent)].fetch_add(
      1, std::memory_order_relaxed);
  return true;
}

void Pipeline::take_model_answer(fm::ModelReply&& answer, Tier tier, Retrieved& r,
                                 const std::string& cache_key, Reply& reply) {
  const Understanding& u = *r.u;
  reply.text = std::move(answer.text);
  reply.tier = tier;
  reply.model = std::move(answer.model_id);
  reply.actions = std::move(r.actions);  // the cascade ends with this answer
  guard_prices(r, tier, reply);
  // Only answers that passed the guard unchanged are worth caching.
  const Duration ttl = config_.cache_ttl[static_cast<int>(u.intent)];
  const TimePoint now = deps_.clock.now();
  if (ttl <= Duration::zero() || reply.price_guard == GuardOutcome::kCorrected ||
      reply.price_guard == GuardOutcome::kDisclaimer ||
      deps_.cache.refresh(cache_key, reply.text, ttl, now)) {
    return;
  }
  cache::CachedReply c;
  c.text = reply.text;
  for (const auto& a : reply.actions) c.actions.emplace_back(a.label, a.url);
  c.category = std::string(to_string(u.intent));
  c.product_ids = r.product_ids;
  if (r.quote && r.product) c.stated_prices.emplace_back(r.product->id, r.quote->price);
  c.model = reply.model;
  deps_.cache.put(cache_key, std::move(c), ttl, now);
}

asio::awaitable<bool> Pipeline::answer_from_shared_cache(const Retrieved& r,
                                                         const std::string& cache_key,
                                                         Reply& reply) {
  std::optional<cache::CachedReply> hit = deps_.cache.get_local(cache_key, deps_.clock.now());
  if (!hit) {
    // A blocking Redis call: on the blocking executor, while this thread serves others.
    // Named, not a temporary in the co_await expression (g++ 12 mishandles those).
    auto read = [this, &cache_key]() -> asio::awaitable<std::optional<cache::CachedReply>> {
      co_return deps_.cache.get_shared(cache_key, deps_.clock.now());
    };
    hit = co_await asio::co_spawn(
        *deps_.blocking, read,
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  }
  co_return answer_from_cache(r, cache_key, std::move(hit), reply);
}

bool Pipeline::answer_from_cache(const Retrieved& r, const std::string& cache_key,
                                 std::optional<cache::CachedReply> hit, Reply& reply) {
  const Understanding& u = *r.u;
  const int ii = static_cast<int>(u.intent);
  if (!hit) {
    stats_.cache_misses[ii].fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  reply.text = std::move(hit->text);
  if (!guard_prices(r, Tier::kCache, reply)) {
    deps_.cache.erase(cache_key);
    stats_.cache_misses[ii].fetch_add(1, std::memory_order_relaxed);
    reply.text.clear();
    return false;
  }
  stats_.cache_hits[ii].fetch_add(1, std::memory_order_relaxed);
  stats_.stale_serves[ii].fetch_add(1, std::memory_order_relaxed);
  if (u.intent == Intent::kPricing && config_.cache_price_disclaimer) {
    reply.text += u.lang == fm::Language::kJa ? "" : " ";
    reply.text += stale_price_disclaimer(u.lang);
    reply.disclaimer = true;
  }
  for (auto& [label, url] : hit->actions) reply.actions.push_back({label, url});
  reply.tier = Tier::kCache;
  reply.model = hit->model;
  return true;
}

bool Pipeline::answer_from_live_data(Retrieved& r, const std::optional<catalog::User>& user,
                                     Reply& reply) {
  if (!r.answerable) return false;
  // Prices and stock are read again: the cascade above may have taken seconds.
  if (r.product) {
    Retrieved fresh = retrieve(*r.u, user, deps_.catalog, deps_.clock.wall_now());
    live_prices(fresh, reply.prices);
    reply.text = std::move(fresh.facts.draft);
  } else {
    reply.text = r.facts.draft;  // no product: no price stated
    reply.prices.clear();
  }
  reply.actions = std::move(r.actions);  // the cascade ends with this answer
  reply.tier = Tier::kStatic;
  return true;
}

void Pipeline::finish(const Retrieved* r, std::optional<DegradationVersion> assigned,
                      Reply& reply) {
  if (r != nullptr) {  // nothing answered: the degraded reply is the floor of every cascade
    const DegradationVersion version = shown_version(deps_.flags.degradation_version(), assigned);
    Degraded d = degraded_reply(*r, eta(), version);
    reply.degradation_version = version;
    reply.text = std::move(d.text);
    reply.actions = std::move(d.actions);
    reply.retry_after_s = d.retry_after_s;
    reply.tier = Tier::kDegraded;
  }
  // Any tier below the models is a degraded service, even when the answer is useful.
  reply.degraded = reply.tier != Tier::kPrimary && reply.tier != Tier::kSecondary;
  if (reply.degraded && reply.retry_after_s == 0) {
    if (auto e = eta()) reply.retry_after_s = static_cast<int>(std::ceil(core::to_seconds(*e)));
  }
  reply.latency = deps_.clock.now() - reply.started;
  stats_.replies[static_cast<int>(reply.tier)][static_cast<int>(reply.intent)].fetch_add(
      1, std::memory_order_relaxed);
}

asio::awaitable<Reply> Pipeline::handle(ChatRequest req, TierChunkSink on_chunk,
                                        core::Deadline deadline) {
  Reply reply;
  co_await handle_into(req, reply, std::move(on_chunk), deadline);
  co_return reply;
}

asio::awaitable<void> Pipeline::handle_into(ChatRequest& req, Reply& reply, TierChunkSink on_chunk,
                                            core::Deadline deadline) {
  core::Clock& clock = deps_.clock;
  reply.started = clock.now();
  reply.trace_id = std::move(req.trace_id);
  core::Random rng = seeds_.with([](core::Random& seeds) { return seeds.split(); });

  const std::shared_ptr<const Understanding> understood =
      understanding_.get(req.message, deps_.catalog);
  const Understanding& u = *understood;
  reply.intent = u.intent;
  reply.lang = u.lang;

  // The same user asking the same question while we are degraded gets the same answer,
  // without another trip through the cascade. Keyed by a 64-bit hash of asker and question.
  // Namespaced by kind: an anonymous session named like a user id is not that user.
  const std::string asker = req.user                  ? core::str_cat("u:", req.user->id)
                            : !req.session_id.empty() ? core::str_cat("s:", req.session_id)
                                                      : std::string();
  const std::uint64_t dedupe_key =
      asker.empty() ? 0 : core::fnv1a(u.normalized, core::fnv1a(asker) ^ 0x7c) | 1;
  if (dedupe_key != 0 && !req.skip_dedupe && replay_duplicate(dedupe_key, asker, reply)) co_return;

  Retrieved r = retrieve(u, req.user, deps_.catalog, clock.wall_now());
  reply.product_ids = r.product_ids;
  const std::string cache_key =
      cache::ResponseCache::key(to_string(u.intent), fm::to_string(u.lang), u.normalized,
                                u.intent == Intent::kOrderStatus && req.user ? req.user->id : "");

  const FmMode mode = deps_.flags.fm_mode();
  // The lane PRIMARY_MODEL names is tier 1; the others, in configured order, tier 2.
  const std::size_t primary = std::min(deps_.flags.primary_model(), lanes_.size() - 1);

  fm::ModelRequest mreq;
  mreq.lang = u.lang;
  mreq.system = u.lang == fm::Language::kJa
                    ? "あなたは日本の漫画ストアのアシスタントです。事実に書かれた価格と在庫だけを述"
                      "べてください。"
                    : "You are the assistant of a Japanese manga store. State only the prices "
                      "and stock given in the facts.";
  const bool converse = !asker.empty() && config_.conversation.max_turns > 0;
  if (converse) mreq.turns = conversations_.recent(asker, clock.now());
  mreq.turns.push_back({"user", req.message});
  mreq.facts = &r.facts;
  const core::Deadline model_deadline(deadline.at() - config_.reserve);
  mreq.deadline = model_deadline;

  // The last lane's error, when it was called: only a capacity error staggers the next.
  std::optional<fm::ModelError> last_error;
  std::uint64_t tried = 0;           // lanes done with for this message (bit i: lane i)
  std::optional<Continuation> cont;  // a broken-off answer the next lane continues
  const bool may_hedge =
      config_.hedge.enabled && lanes_.size() > 1 &&
      std::ranges::find(config_.tier_order[static_cast<int>(u.intent)], Tier::kSecondary) !=
          config_.tier_order[static_cast<int>(u.intent)].end();
  const std::string_view guard_product =
      r.product ? std::string_view(r.product->id) : std::string_view();
  bool answered = false;
  for (Tier tier : config_.tier_order[static_cast<int>(u.intent)]) {
    if (answered) break;
    switch (tier) {
      case Tier::kPrimary:
      case Tier::kSecondary:
        for (std::size_t i = 0; i < lanes_.size() && !answered; ++i) {
          if ((i == primary) != (tier == Tier::kPrimary)) continue;
          if ((tried >> i) & 1) continue;
          if (mode != FmMode::kNormal) break;
          if (model_deadline.expired(clock.now())) break;
          Lane& lane = *lanes_[i];
          tried |= std::uint64_t{1} << i;
          if (lane.misconfigured.load(std::memory_order_relaxed)) {
            skip(lane, SkipReason::kMisconfigured);
            if (reply.error_code.empty()) reply.error_code = to_string(SkipReason::kMisconfigured);
            continue;
          }
          if (tier == Tier::kSecondary && last_error && is_capacity_error(*last_error) &&
              config_.stagger_max > Duration::zero()) {
            // Spread the fallback load of a capacity storm; keep enough time for the
            // fallback to answer. (Other errors gain nothing from waiting.)
            const Duration room = model_deadline.remaining(clock.now());
            const Duration stagger =
                std::min(rng.uniform(Duration::zero(), config_.stagger_max), room / 2);
            if (stagger > Duration::zero()) co_await clock.wait_for(stagger);
          }
          // The primary is hedged with the first other lane that may take a call.
          std::size_t hedge_to = lanes_.size();
          if (tier == Tier::kPrimary && may_hedge) {
            for (std::size_t j = 0; j < lanes_.size(); ++j) {
              if (j != i && !lanes_[j]->misconfigured.load(std::memory_order_relaxed)) {
                hedge_to = j;
                break;
              }
            }
          }
          LaneResult lr[2];
          int winner = -1;
          bool hedged = false;
          if (cont) {
            mreq.continue_from = cont->text;
            co_await call_lane(lane, mreq, rng, on_chunk, guard_product, tier, reply, lr[0],
                               nullptr, 0, &*cont);
            mreq.continue_from = {};
            cont.reset();
            if (lr[0].reply) winner = 0;
          } else if (hedge_to < lanes_.size()) {
            co_await race_lanes(lane, *lanes_[hedge_to], mreq, rng, on_chunk, guard_product, reply,
                                lr, hedged, winner);
            if (hedged && !lr[1].cancelled) tried |= std::uint64_t{1} << hedge_to;
            if (hedged && lr[1].called) {
              lanes_[hedge_to]->hedges.fetch_add(1);
              reply.hedged = true;
            }
          } else {
            co_await call_lane(lane, mreq, rng, on_chunk, guard_product, tier, reply, lr[0]);
            if (lr[0].reply) winner = 0;
          }
          if (winner >= 0) {
            take_model_answer(std::move(*lr[winner].reply), winner == 0 ? tier : Tier::kSecondary,
                              r, cache_key, reply);
            answered = true;
            break;
          }
          last_error.reset();
          for (int k = 0; k < 2; ++k) {
            const LaneResult& one = lr[k];
            const std::size_t at = k == 0 ? i : hedge_to;
            if (!one.partial.empty() && one.partial_shown != std::string::npos &&
                at < lanes_.size() && lanes_[at]->policy.continue_on_fallback) {
              cont = Continuation{one.partial, one.partial_shown, one.partial_attempt,
                                  k == 0 ? tier : Tier::kSecondary};
            }
          }
          for (LaneResult& one : lr) {
            if (one.error && !one.cancelled) {
              reply.error_code = one.error->code;
              reply.error_class = one.error->kind;
              reply.error_message = one.error->message;
              last_error = std::move(one.error);
            } else if (one.skipped && reply.error_code.empty()) {
              reply.error_code = to_string(*one.skipped);
            }
          }
        }
        break;
      case Tier::kCache:
        if (mode == FmMode::kStaticOnly) break;
        if (deps_.blocking && deps_.cache.has_shared()) {
          answered = co_await answer_from_shared_cache(r, cache_key, reply);
        } else {
          answered =
              answer_from_cache(r, cache_key, deps_.cache.get(cache_key, clock.now()), reply);
        }
        break;
      case Tier::kStatic:
        answered = answer_from_live_data(r, req.user, reply);
        break;
      case Tier::kDegraded:
        break;  // below: the degraded reply is the floor of every cascade
    }
  }
  finish(answered ? nullptr : &r, req.degradation_version, reply);
  if (reply.degraded && dedupe_key != 0) dedupe_store(dedupe_key, asker, reply, clock.now());
  if (!reply.degraded && converse)
    conversations_.remember(asker, req.message, reply.text, clock.now());
}

std::optional<Duration> Pipeline::eta() const {
  std::optional<Duration> best;
  const TimePoint now = deps_.clock.now();
  for (const auto& lane : lanes_) {
    if (lane->shown_state.load(std::memory_order_relaxed) == BreakerState::kOpen) {
      const Duration d = lane->time_until_probe(now);
      if (!best || d < *best) best = d;
    }
  }
  return best;
}

double Pipeline::model_capacity(std::span<const double> feeds) const {
  double total = 0;
  for (std::size_t i = 0; i < lanes_.size() && i < feeds.size(); ++i) {
    const Lane* lane = lanes_[i].get();
    const double quota = feeds[i];
    total += lane->shown_limiter_enabled.load(std::memory_order_relaxed)
                 ? std::min(quota, lane->shown_limiter_rate.load(std::memory_order_relaxed))
                 : quota;
  }
  return total;
}

std::vector<LaneCounters> Pipeline::lane_counters() const {
  std::vector<LaneCounters> out;
  out.reserve(lanes_.size());
  for (const auto& lane : lanes_) {
    LaneCounters c;
    c.name = std::string(lane->name);
    c.calls = lane->calls.load();
    c.hedges = lane->hedges.load();
    c.hedge_wins = lane->hedge_wins.load();
    for (int i = 0; i < kSkipReasonCount; ++i) c.skips[i] = lane->skips[i].load();
    c.input_tokens = lane->input_tokens.load();
    c.output_tokens = lane->output_tokens.load();
    c.cost_usd = static_cast<double>(lane->cost_micro_usd.load()) / 1e6;
    c.misconfigured_marks = lane->misconfigured_marks.load();
    out.push_back(std::move(c));
  }
  return out;
}

ServiceStatus Pipeline::status() const {
  ServiceStatus s;
  const TimePoint now = deps_.clock.now();
  int open = 0;  // breakers open and waiting
  int broken = 0;
  std::vector<std::size_t> unprobed_lanes;  // open, the wait over: the next call probes it
  for (const auto& lane : lanes_) {
    ModelStatus m;
    m.name = std::string(lane->name);
    m.breaker = lane->shown_state.load(std::memory_order_relaxed);
    m.time_until_probe = lane->time_until_probe(now);
    m.limiter_enabled = lane->shown_limiter_enabled.load(std::memory_order_relaxed);
    m.limiter_rate = lane->shown_limiter_rate.load(std::memory_order_relaxed);
    m.limiter_floor = lane->limiter_floor;
    m.retry_quota = lane->retry.quota_available();
    m.misconfigured = lane->misconfigured.load(std::memory_order_relaxed);
    if (m.misconfigured) {
      std::lock_guard lock(lane->code_mu);
      m.misconfigured_code = lane->misconfigured_code;
    }
    // A window that saw nothing for two buckets (no traffic to the lane: FM_MODE, an idle
    // hour) shows no skips rather than its last value.
    m.skip_rate =
        now - TimePoint(Duration(lane->shown_window_start.load(std::memory_order_relaxed))) <
                2 * kSkipBucket
            ? lane->shown_skip_rate.load(std::memory_order_relaxed)
            : 0.0;
    m.ttft_p95 = lane->p95();
    m.first_token_budget = lane->first_token_budget();
    if (m.breaker == BreakerState::kOpen && !m.misconfigured) {
      if (m.time_until_probe > Duration::zero()) {
        ++open;
      } else {
        unprobed_lanes.push_back(s.models.size());
      }
    }
    broken += m.misconfigured;
    s.models.push_back(std::move(m));
  }
  // A lane whose breaker is past its wait is not known to be out, only not yet probed. A
  // fallback lane of that kind behind a lane that answers (the primary, say, recovered) is not
  // needed and not called: counting it as out would keep the service "degraded" -- and every
  // visitor's banner up -- until some call happened to reach it. Any other such lane (the
  // primary itself, or with nothing ahead of it answering) still counts: the state does not
  // flicker to "normal" between the probes of an outage.
  const std::size_t primary = std::min(deps_.flags.primary_model(), lanes_.size() - 1);
  auto answering = [&](std::size_t i) {
    return s.models[i].breaker != BreakerState::kOpen && !s.models[i].misconfigured;
  };
  int unneeded = 0;
  for (std::size_t lane : unprobed_lanes) {
    // The cascade's order: the primary, then the others in configured order.
    bool ahead = lane != primary && answering(primary);
    for (std::size_t i = 0; i < lane && !ahead && lane != primary; ++i) {
      ahead = i != primary && answering(i);
    }
    unneeded += ahead;
  }
  const int lanes = static_cast<int>(lanes_.size());
  const int out = open + broken + static_cast<int>(unprobed_lanes.size()) - unneeded;
  s.state = out == lanes ? "down" : out > 0 ? "degraded" : "normal";
  if (deps_.flags.fm_mode() != FmMode::kNormal && out == 0) s.state = "limited";
  if (out > 0) s.eta = eta();
  {
    // Today's spend: the lanes' running totals less what they were when the UTC day began
    // (noticed here, by the first status of the day: every reply asks for one).
    const std::int64_t day =
        std::chrono::floor<std::chrono::days>(deps_.clock.wall_now()).time_since_epoch().count();
    const std::int64_t total = total_micro_usd();
    std::lock_guard lock(spend_mu_);
    if (day != spend_day_) {
      spend_day_ = day;
      spend_base_micro_usd_ = spend_started_ ? total : 0;
      spend_started_ = true;
    }
    s.spend_today_usd = static_cast<double>(total - spend_base_micro_usd_) / 1e6;
  }
  return s;
}

}  // namespace ma::assist
