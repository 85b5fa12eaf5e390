#include "assist/pipeline.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

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

struct Pipeline::Lane {
  Lane(fm::ModelProvider& p, const PipelineConfig& c, resilience::RetryBudget* budget,
       double quota_rps, core::TimePoint now)
      : provider(p), breaker(c.breaker), limiter(c.adaptive), retry(c.retry, budget) {
    // A burst of at least a few calls: a small share of a quota must not refuse on jitter.
    if (quota_rps > 0)
      quota.emplace(resilience::BucketSpec{quota_rps, std::max(quota_rps, 3.0)}, now);
    publish(now);
  }
  fm::ModelProvider& provider;
  core::SpinLock mu;  // guards breaker, limiter and quota
  // The account's quota for this model (this process's share): calls beyond it go to the
  // next tier at once instead of drawing throttles that collapse the adaptive limiter.
  std::optional<resilience::TokenBucket> quota;
  resilience::CircuitBreaker breaker;
  resilience::AdaptiveRateLimiter limiter;
  resilience::RetryPolicy retry;  // thread-safe itself

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
};

struct Pipeline::LaneResult {
  std::optional<fm::ModelReply> reply;
  std::optional<fm::ModelError> error;
  std::string skipped;  // why the lane was not called at all
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
    lanes_.push_back(std::make_unique<Lane>(deps_.models[i].get(), config_, deps_.budget, quota,
                                            deps_.clock.now()));
  }
}

Pipeline::~Pipeline() = default;

asio::awaitable<void> Pipeline::call_lane(Lane& lane, const fm::ModelRequest& req,
                                          core::Random& rng, const TierChunkSink& sink,
                                          std::string_view guard_product, Tier tier, Reply& reply,
                                          LaneResult& result) {
  core::Clock& clock = deps_.clock;
  lane.retry.set_max_attempts(deps_.flags.retry_max_attempts());
  auto attempts = lane.retry.begin(clock.now(), req.deadline);
  // One guard per attempt (a retry starts over), made only when someone streams.
  std::optional<StreamGuard> guard;
  int attempt_no = 0;
  const fm::ChunkSink chunk = [&](std::string_view text) {
    if (guard) guard->feed(text);
  };
  auto new_guard = [&] {
    guard.reset();
    if (!sink) return;
    attempt_no = static_cast<int>(reply.attempts.size()) + 1;
    guard.emplace(
        [this, guard_product](std::string_view sentence) {
          if (!config_.price_guard) return true;
          return !check_reply_prices(sentence, guard_product, deps_.catalog, deps_.clock.wall_now())
                      .mismatch;
        },
        [&sink, tier, &attempt_no](std::string_view safe) {
          sink(StreamChunk{tier, attempt_no, safe});
        });
  };
  for (;;) {
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
        result.skipped = "client_rate_limited";
        co_return;
      }
      if (*wait > Duration::zero()) co_await clock.wait_for(*wait);
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
      lane.publish(now);
    }
    if (!within_quota) {
      result.skipped = "over_quota";
      co_return;
    }
    if (!permitted) {
      result.skipped = "breaker_open";
      co_return;
    }

    const TimePoint start = clock.now();
    new_guard();
    fm::ModelResult r = co_await lane.provider.invoke(req, chunk);
    const TimePoint end = clock.now();
    const bool throttled = !r.ok() && r.error().kind == ErrorClass::kThrottling;
    {
      std::lock_guard lock(lane.mu);
      lane.limiter.update(end, throttled);
      if (r.ok()) {
        lane.breaker.on_success(end, end - start);
      } else if (r.error().kind == ErrorClass::kClient) {
        lane.breaker.release_permission();  // our request was wrong, the model is fine
      } else {
        lane.breaker.on_error(end, end - start);
      }
      lane.publish(end);
    }
    reply.attempts.push_back(
        {std::string(lane.provider.name()), r.ok() ? std::string() : r.error().code,
         r.ok() ? std::nullopt : std::optional<ErrorClass>(r.error().kind), start, end - start});
    if (r.ok()) {
      if (guard) guard->finish();
      attempts.on_success();
      result.reply = std::move(r).value();
      result.error.reset();
      co_return;
    }
    result.error = r.error();
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
        const bool granted = co_await asio::co_spawn(*deps_.blocking, spend, asio::use_awaitable);
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
    co_await clock.wait_for(decision.delay);
  }
}

bool Pipeline::guard_prices(const Retrieved& r, Tier tier, Reply& reply) {
  if (!config_.price_guard) return true;
  // Against the catalog as it is now, not the snapshot retrieval took: a price can change
  // while a model is writing (a sale ending mid-answer). Each price is checked against the
  // product named next to it, else the one asked about (unchecked if there is none).
  const PriceCheck c = check_reply_prices(
      reply.text, r.product ? std::string_view(r.product->id) : std::string_view(), deps_.catalog,
      deps_.clock.wall_now());
  if (!c.checked) return true;
  if (!c.mismatch) {
    reply.price_guard = GuardOutcome::kOk;
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
  } else {
    reply.price_guard = GuardOutcome::kDisclaimer;
    reply.text += r.u->lang == fm::Language::kJa ? "" : " ";
    reply.text += stale_price_disclaimer(r.u->lang);
    reply.disclaimer = true;
  }
  return true;
}

std::optional<Reply> Pipeline::dedupe_lookup(std::uint64_t key, std::string_view asker,
                                             TimePoint now) {
  std::lock_guard lock(dedupe_mu_);
  if (dedupe_.empty()) return std::nullopt;
  auto it = dedupe_.find(key);
  if (it == dedupe_.end() || it->second.asker != asker) return std::nullopt;
  if (now - it->second.at > config_.dedupe_window) {
    dedupe_.erase(it);
    return std::nullopt;
  }
  return it->second.reply;
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
    std::erase_if(dedupe_,
                  [&](const auto& kv) { return now - kv.second.at > config_.dedupe_window; });
    dedupe_swept_ = now;
    dedupe_sweep_at_ = std::clamp<std::size_t>(2 * dedupe_.size(), floor, max);
    stats_.dedupe_sweeps.fetch_add(1, std::memory_order_relaxed);
  }
  if (dedupe_.size() >= max && !dedupe_.contains(key)) {
    stats_.dedupe_not_kept.fetch_add(1, std::memory_order_relaxed);
    return;  // bounded: this asker's next identical question goes through the cascade
  }
  dedupe_[key] = Remembered{r, now, std::move(asker)};
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
    hit = co_await asio::co_spawn(*deps_.blocking, read, asio::use_awaitable);
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
    reply.text = retrieve(*r.u, user, deps_.catalog, deps_.clock.wall_now()).facts.draft;
  } else {
    reply.text = r.facts.draft;
  }
  reply.actions = std::move(r.actions);  // the cascade ends with this answer
  reply.tier = Tier::kStatic;
  return true;
}

void Pipeline::finish(const Retrieved* r, Reply& reply) {
  if (r != nullptr) {  // nothing answered: the degraded reply is the floor of every cascade
    Degraded d = degraded_reply(*r, eta(), deps_.flags.degradation_version());
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
  if (dedupe_key != 0 && replay_duplicate(dedupe_key, asker, reply)) co_return;

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

  bool model_tried = false;  // a model lane was called (not skipped) for this message
  bool answered = false;
  for (Tier tier : config_.tier_order[static_cast<int>(u.intent)]) {
    if (answered) break;
    switch (tier) {
      case Tier::kPrimary:
      case Tier::kSecondary:
        for (std::size_t i = 0; i < lanes_.size() && !answered; ++i) {
          if ((i == primary) != (tier == Tier::kPrimary)) continue;
          if (mode != FmMode::kNormal) break;
          if (model_deadline.expired(clock.now())) break;
          Lane& lane = *lanes_[i];
          if (tier == Tier::kSecondary && model_tried && config_.stagger_max > Duration::zero()) {
            // Spread the fallback load; keep enough time for the fallback to answer.
            const Duration room = model_deadline.remaining(clock.now());
            const Duration stagger =
                std::min(rng.uniform(Duration::zero(), config_.stagger_max), room / 2);
            if (stagger > Duration::zero()) co_await clock.wait_for(stagger);
          }
          mreq.model_id = std::string(lane.provider.name());
          LaneResult lr;
          co_await call_lane(lane, mreq, rng, on_chunk,
                             r.product ? std::string_view(r.product->id) : std::string_view(), tier,
                             reply, lr);
          model_tried |= lr.skipped.empty();
          if (lr.reply) {
            take_model_answer(std::move(*lr.reply), tier, r, cache_key, reply);
            answered = true;
          } else if (lr.error) {
            reply.error_code = lr.error->code;
            reply.error_class = lr.error->kind;
            reply.error_message = lr.error->message;
          } else if (reply.error_code.empty()) {
            reply.error_code = lr.skipped;
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
  finish(answered ? nullptr : &r, reply);
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
  for (const auto& lane : lanes_) {
    LaneCounters c;
    c.name = std::string(lane->provider.name());
    out.push_back(std::move(c));
  }
  return out;
}

ServiceStatus Pipeline::status() const {
  ServiceStatus s;
  const TimePoint now = deps_.clock.now();
  int open = 0;
  for (const auto& lane : lanes_) {
    ModelStatus m;
    m.name = std::string(lane->provider.name());
    m.breaker = lane->shown_state.load(std::memory_order_relaxed);
    m.time_until_probe = lane->time_until_probe(now);
    m.limiter_enabled = lane->shown_limiter_enabled.load(std::memory_order_relaxed);
    m.limiter_rate = lane->shown_limiter_rate.load(std::memory_order_relaxed);
    m.retry_quota = lane->retry.quota_available();
    open += m.breaker == BreakerState::kOpen;
    s.models.push_back(std::move(m));
  }
  s.state = open == static_cast<int>(lanes_.size()) ? "down" : open > 0 ? "degraded" : "normal";
  if (deps_.flags.fm_mode() != FmMode::kNormal && open == 0) s.state = "limited";
  s.eta = eta();
  return s;
}

}  // namespace ma::assist
