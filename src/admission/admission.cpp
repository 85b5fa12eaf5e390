#include "admission/admission.hpp"

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <utility>

#include "core/flat_table.hpp"
#include "core/supervised.hpp"
#include "core/text.hpp"

namespace ma::admission {

namespace asio = boost::asio;
using core::Duration;
using core::TimePoint;
using resilience::BucketVerdict;

std::string_view to_string(Priority p) {
  switch (p) {
    case Priority::kAnonymous:
      return "anonymous";
    case Priority::kRegistered:
      return "registered";
    case Priority::kPremium:
      return "premium";
  }
  return "anonymous";
}

namespace {
resilience::BucketSpec bucket(const UsagePlan& p) {
  return {.rate = p.rate, .burst = p.burst, .quota = p.quota, .quota_period = kQuotaPeriod};
}
// A plan that refills slower than this (or never) has its idle buckets forgotten anyway
// after this long: memory stays bounded, and the forgotten visitor gets a fresh burst.
constexpr Duration kLongestMemory = std::chrono::minutes(10);
// A table is swept when it has grown to twice what the last sweep kept, and not below this.
constexpr std::size_t kSweepFloor = 4096;

// How long after its last message a bucket is full again under every current plan, so that
// forgetting it changes nothing (a new one starts full): the slowest refill from empty, plus
// a second that absorbs rounding.
Duration forget_after(const AdmissionConfig& c) {
  double slowest = 0;
  for (const UsagePlan* p : {&c.plans[0], &c.plans[1], &c.plans[2], &c.per_source}) {
    if (p->rate <= 0) return kLongestMemory;
    slowest = std::max(slowest, p->burst / p->rate);
  }
  return std::min<Duration>(kLongestMemory, core::from_seconds(slowest + 1.0));
}

// One user's token day: what their messages used and what admitted messages hold reserved.
struct TokenDay {
  std::int64_t used = 0;
  std::int64_t reserved = 0;
  TimePoint start{};
};

// A day over is forgotten in whole periods, as the message quota rolls over. Reservations
// made in the day that ended settle against nothing (their day's accounting is gone).
void roll_day(TokenDay& d, TimePoint now) {
  if (now - d.start >= kQuotaPeriod) {
    d.start += ((now - d.start) / kQuotaPeriod) * kQuotaPeriod;
    d.used = 0;
    d.reserved = 0;
  }
}
}  // namespace

TokenReservation& TokenReservation::operator=(TokenReservation&& o) noexcept {
  if (this != &o) {
    settle(reserved_);
    owner_ = std::exchange(o.owner_, nullptr);
    key_ = o.key_;
    reserved_ = o.reserved_;
    day_start_ = o.day_start_;
  }
  return *this;
}

void TokenReservation::settle(std::int64_t actual) {
  if (owner_ == nullptr) return;
  Admission* a = std::exchange(owner_, nullptr);
  a->settle_tokens(*this, actual);
}

struct Admission::Waiter {
  Priority priority = Priority::kAnonymous;
  std::uint64_t seq = 0;
  TimePoint enqueued{};
  asio::any_io_executor executor;
  asio::cancellation_signal wake;
  bool granted = false;  // under mu_
  bool gone = false;     // timed out; under mu_
};

struct Admission::Shard {
  core::SpinLock mu;
  // Keyed by a 64-bit hash of the user key or source: no string copies on the hot path (two
  // keys colliding would share a bucket; at 64 bits, not in this universe's traffic).
  // Only the changing state is stored (the plan comes with each request): flat, 40 bytes an
  // entry, so millions of first-time visitors cost one cache line each, not a node apiece.
  // A visitor whose bucket has refilled is forgotten at the next sweep, so a table holds the
  // last few seconds' visitors (and those with a daily quota in use), not the day's.
  core::FlatTable<resilience::BucketState> buckets;
  std::size_t sweep_at = kSweepFloor;  // the next size at which refilled buckets are swept
  // Token days of users under a plan with a token budget, by the same key as their bucket:
  // kept while the day lasts or a reservation is held (whatever happens to the bucket),
  // swept like the buckets once the day is over. 32 bytes an entry.
  core::FlatTable<TokenDay> token_days{64};
  std::size_t token_sweep_at = kSweepFloor;
};

Admission::Admission(core::Clock& clock, AdmissionConfig config, std::function<double()> capacity)
    : clock_(clock),
      capacity_(std::move(capacity)),
      config_(std::move(config)),
      global_({.rate = config_.global_rate, .burst = config_.global_burst}, clock.now()),
      rate_in_force_(config_.global_rate),
      forget_after_(forget_after(config_)),
      detector_(config_.spike) {
  for (auto& s : shards_) s = std::make_unique<Shard>();
}

Admission::~Admission() = default;

AdmissionResult Admission::check_user(const AdmissionRequest& req, TimePoint now,
                                      TokenReservation* tokens) {
  AdmissionResult r;
  UsagePlan plan, source_plan;
  Duration forget;
  std::int64_t estimate = 0;
  {
    std::lock_guard lock(mu_);
    plan = config_.plans[static_cast<int>(req.priority)];
    source_plan = config_.per_source;
    forget = forget_after_;
    estimate = std::max<std::int64_t>(0, config_.token_estimate);
  }
  const std::int64_t budget = plan.daily_tokens;
  // Over the token budget (with this message's estimate): the time until the day resets.
  // REQUIRES: the shard's lock held.
  auto over_budget = [&](TokenDay& d) -> std::optional<Duration> {
    roll_day(d, now);
    if (d.used + d.reserved + estimate <= budget) return std::nullopt;
    return d.start + kQuotaPeriod - now;
  };
  auto refuse_tokens = [&](Duration reset) {
    r.outcome = Outcome::kUserLimited;
    r.scope = "tokens";
    r.retry_after = reset;
    r.resets_at = clock_.wall_now() + std::chrono::duration_cast<core::WallTime::duration>(reset);
  };
  auto shard_of = [&](std::uint64_t key) -> Shard& {
    return *shards_[(key >> 32) % shards_.size()];
  };
  // `budget_first`: the user's key, checked against the token budget before a bucket token is
  // taken (a user whose day is spent does not also spend their rate).
  auto take = [&](std::uint64_t key, const UsagePlan& plan,
                  bool budget_first) -> std::optional<Duration> {
    Shard& shard = shard_of(key);
    std::lock_guard lock(shard.mu);
    if (budget_first && budget > 0) {
      TokenDay fresh{0, 0, now};
      TokenDay* d = shard.token_days.find(key);
      if (auto reset = over_budget(d ? *d : fresh)) {
        refuse_tokens(*reset);
        return reset;
      }
    }
    if (shard.buckets.size() > shard.sweep_at) {  // forget refilled visitors
      shard.buckets.rebuild_without([&](const resilience::BucketState& b) {
        return now - b.last >= forget &&
               (b.quota_used == 0 || now - b.quota_period_start >= kQuotaPeriod);
      });
      // Amortised: when most buckets are busy, the next sweep waits for the table to double.
      shard.sweep_at = std::max(kSweepFloor, shard.buckets.size() * 2);
    }
    const resilience::BucketSpec spec = bucket(plan);
    resilience::BucketState& b =
        shard.buckets.find_or_insert(key, [&] { return resilience::BucketState::full(spec, now); });
    if (resilience::try_acquire(spec, b, now) == BucketVerdict::kAllowed) return std::nullopt;
    return resilience::time_until(spec, b, now);
  };
  const std::uint64_t user = core::fnv1a(req.user_key);
  if (auto wait = take(user, plan, true)) {
    if (r.scope.empty()) {
      r.outcome = Outcome::kUserLimited;
      r.scope = "user";
      r.retry_after = *wait;
    }
    return r;
  }
  if (!req.source.empty() && req.source != req.user_key) {
    // Sources live in the same maps: a different seed keeps them apart from user keys.
    if (auto wait = take(core::fnv1a(req.source) ^ 0x5eed5eed5eed5eedULL, source_plan, false)) {
      r.outcome = Outcome::kUserLimited;
      r.scope = "source";
      r.retry_after = *wait;
      return r;
    }
  }
  if (budget > 0 && tokens != nullptr) {
    // Reserve the estimate; checked again, as another message of the same user may have
    // reserved since the check above.
    Shard& shard = shard_of(user);
    std::lock_guard lock(shard.mu);
    if (shard.token_days.size() > shard.token_sweep_at) {  // forget days that are over
      shard.token_days.rebuild_without([&](const TokenDay& d) {
        return d.reserved == 0 && (d.used == 0 || now - d.start >= kQuotaPeriod);
      });
      shard.token_sweep_at = std::max(kSweepFloor, shard.token_days.size() * 2);
    }
    TokenDay& d = shard.token_days.find_or_insert(user, [&] { return TokenDay{0, 0, now}; });
    if (auto reset = over_budget(d)) {
      refuse_tokens(*reset);
      return r;
    }
    d.reserved += estimate;
    *tokens = TokenReservation();
    tokens->owner_ = this;
    tokens->key_ = user;
    tokens->reserved_ = estimate;
    tokens->day_start_ = d.start;
  }
  return r;
}

void Admission::settle_tokens(const TokenReservation& res, std::int64_t actual) {
  Shard& shard = *shards_[(res.key_ >> 32) % shards_.size()];
  std::lock_guard lock(shard.mu);
  TokenDay* d = shard.token_days.find(res.key_);
  if (d == nullptr || d->start != res.day_start_) return;  // its day is over
  d->reserved -= std::min(d->reserved, res.reserved_);
  d->used += std::max<std::int64_t>(0, actual);
}

Admission::TokenUsage Admission::token_usage(const std::string& user_key) const {
  const std::uint64_t key = core::fnv1a(user_key);
  Shard& shard = *shards_[(key >> 32) % shards_.size()];
  const TimePoint now = clock_.now();
  std::lock_guard lock(shard.mu);
  const TokenDay* d = shard.token_days.find(key);
  if (d == nullptr || now - d->start >= kQuotaPeriod) return {};
  return {d->used, d->reserved};
}

void Admission::retune(TimePoint now) {
  const std::int64_t sec =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (sec == last_retune_second_) return;
  last_retune_second_ = sec;
  double base = config_.global_rate;
  const core::WallTime wall = clock_.wall_now();
  for (const auto& ev : config_.events) {
    if (wall >= ev.prescale_from && wall < ev.end) base = std::max(base, ev.global_rate);
  }
  const TrafficSnapshot traffic = detector_.snapshot(now);
  const SpikeKind kind = detector_.classify(traffic, base);
  spike_.store(kind);
  double target = base;
  if (config_.dynamic) {
    const double demand = traffic.rate;
    double cap = config_.max_global_rate;
    if (capacity_) cap = std::min(cap, std::max(base, capacity_()));
    if (kind == SpikeKind::kOrganic) {
      target = std::clamp(demand * 1.2, base, std::max(base, cap));
    } else if (kind == SpikeKind::kNone && rate_in_force_ > base) {
      // Subsiding: come down with the traffic, never below the base.
      target = std::clamp(demand * 1.2, base, rate_in_force_);
    }
  }
  if (target != rate_in_force_) {
    rate_in_force_ = target;
    const double burst = config_.global_burst * target / std::max(1.0, config_.global_rate);
    global_.reconfigure({.rate = target, .burst = std::max(1.0, burst)}, now);
  }
}

std::size_t Admission::position_of(const Waiter& w) const {
  std::size_t ahead = 0;
  for (int p = static_cast<int>(w.priority) + 1; p < kPriorities; ++p) {
    ahead += static_cast<std::size_t>(enqueued_[p] - dequeued_[p]);
  }
  const int mine = static_cast<int>(w.priority);
  ahead += static_cast<std::size_t>(w.seq - std::min(w.seq, dequeued_[mine]));
  return ahead + 1;
}

void Admission::grant_locked(std::shared_ptr<Waiter> w) {
  w->granted = true;
  --waiting_;
  // The waiter's sleep belongs to its executor; cancel it there.
  asio::post(w->executor, [w] { w->wake.emit(asio::cancellation_type::terminal); });
}

asio::awaitable<void> Admission::dispatch() {
  bool running = true;
  while (running) {
    Duration wait{};
    {
      std::lock_guard lock(mu_);
      const TimePoint now = clock_.now();
      retune(now);
      if (waiting_ == 0) {
        dispatcher_running_ = false;
        running = false;
      } else if (global_.try_acquire(now) == BucketVerdict::kAllowed) {
        // Highest priority first, FIFO within it; timed-out waiters are skipped.
        for (int p = kPriorities - 1; p >= 0; --p) {
          auto& q = queues_[p];
          while (!q.empty() && q.front()->gone) {
            q.pop_front();
            ++dequeued_[p];
          }
          if (!q.empty()) {
            auto w = std::move(q.front());
            q.pop_front();
            ++dequeued_[p];
            grant_locked(std::move(w));
            break;
          }
        }
      } else {
        wait = std::clamp<Duration>(global_.time_until(now), std::chrono::microseconds(1),
                                    std::chrono::milliseconds(100));
      }
    }
    if (running && wait > Duration::zero()) (void)co_await clock_.wait_for(wait);
  }
}

std::optional<AdmissionResult> Admission::try_admit(const AdmissionRequest& req,
                                                    TokenReservation* tokens) {
  const TimePoint now = clock_.now();
  AdmissionResult r = check_user(req, now, tokens);
  if (r.outcome == Outcome::kUserLimited) {
    (r.scope == "user"     ? stats_.limited_user
     : r.scope == "tokens" ? stats_.limited_tokens
                           : stats_.limited_source)
        .fetch_add(1, std::memory_order_relaxed);
    return r;
  }
  bool admitted_now = false;
  {
    std::lock_guard lock(mu_);
    detector_.record(now, core::fnv1a(req.user_key), core::fnv1a(req.source), req.question_hash);
    retune(now);
    admitted_now = waiting_ == 0 && global_.try_acquire(now) == BucketVerdict::kAllowed;
  }
  if (!admitted_now) return std::nullopt;
  stats_.admitted.fetch_add(1, std::memory_order_relaxed);
  return r;
}

asio::awaitable<AdmissionResult> Admission::admit(AdmissionRequest req, QueuedSink on_queued,
                                                  TokenReservation* tokens) {
  if (auto r = try_admit(req, tokens)) co_return *r;
  co_return co_await wait_in_queue(std::move(req), std::move(on_queued));
}

asio::awaitable<AdmissionResult> Admission::wait_in_queue(AdmissionRequest req,
                                                          QueuedSink on_queued) {
  const auto executor = co_await asio::this_coro::executor;
  const TimePoint now = clock_.now();
  AdmissionResult r;
  auto w = std::make_shared<Waiter>();
  std::size_t position = 0;
  Duration eta{};
  Duration max_wait{};
  Duration update_every{};
  bool start_dispatcher = false;
  {
    std::lock_guard lock(mu_);
    const int p = static_cast<int>(req.priority);
    w->priority = req.priority;
    w->seq = enqueued_[p]++;
    w->enqueued = now;
    w->executor = executor;
    queues_[p].push_back(w);
    ++waiting_;
    position = position_of(*w);
    eta = core::from_seconds(static_cast<double>(position) / std::max(1.0, rate_in_force_));
    max_wait = config_.max_wait;
    update_every = config_.update_every;
    start_dispatcher = !dispatcher_running_;
    dispatcher_running_ = true;
  }
  // Outside the lock: the spawn may run the dispatcher inline. Supervised and restarted: a
  // dispatcher that died would leave every queued message to time out. dispatcher_running_
  // stays set through the restart's backoff, so no second dispatcher starts meanwhile, and
  // each waiter's own deadline still bounds its wait if the restarts keep failing.
  if (start_dispatcher) {
    core::spawn_supervised(executor, clock_, [this] { return dispatch(); },
                           {.task = "admission_dispatcher",
                            .policy = core::SupervisePolicy::restart(std::chrono::milliseconds(10),
                                                                     std::chrono::seconds(1)),
                            .on_stop = {}});
  }
  stats_.queued.fetch_add(1, std::memory_order_relaxed);
  r.queued = true;
  if (on_queued) on_queued(position, eta);

  const TimePoint deadline = now + max_wait;
  bool done = false;
  while (!done) {
    // Without a listener there is nothing to report: sleep until granted or the deadline.
    const TimePoint next = on_queued ? std::min(deadline, clock_.now() + update_every) : deadline;
    (void)co_await asio::co_spawn(
        executor, clock_.sleep_until(next),
        asio::bind_cancellation_slot(w->wake.slot(), asio::use_awaitable));
    bool report = false;
    {
      std::lock_guard lock(mu_);
      const TimePoint t = clock_.now();
      if (w->granted) {
        r.outcome = Outcome::kAdmitted;
        r.waited = t - w->enqueued;
        stats_.admitted.fetch_add(1, std::memory_order_relaxed);
        stats_.dequeued.fetch_add(1, std::memory_order_relaxed);
        stats_.wait_ns_total.fetch_add(static_cast<std::uint64_t>(r.waited.count()),
                                       std::memory_order_relaxed);
        done = true;
      } else if (t >= deadline) {
        w->gone = true;
        --waiting_;
        r.outcome = Outcome::kQueueTimeout;
        r.waited = t - w->enqueued;
        stats_.queue_timeouts.fetch_add(1, std::memory_order_relaxed);
        done = true;
      } else {
        position = position_of(*w);
        eta = core::from_seconds(static_cast<double>(position) / std::max(1.0, rate_in_force_));
        report = true;
      }
    }
    if (report && on_queued) on_queued(position, eta);
  }
  co_return r;
}

void Admission::set_plan(Priority p, UsagePlan plan) {
  std::lock_guard lock(mu_);
  config_.plans[static_cast<int>(p)] = plan;
  forget_after_ = forget_after(config_);
  // Buckets keep their state and the plan travels with each request, so the change applies
  // to everyone at once (tokens above a lowered burst are capped at their next message).
}

void Admission::set_global(double rate, double burst, bool dynamic) {
  std::lock_guard lock(mu_);
  config_.global_rate = rate;
  config_.global_burst = burst;
  config_.dynamic = dynamic;
  rate_in_force_ = rate;
  global_.reconfigure({.rate = rate, .burst = burst}, clock_.now());
  last_retune_second_ = INT64_MIN;
}

AdmissionConfig Admission::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

double Admission::global_rate() const {
  std::lock_guard lock(mu_);
  return rate_in_force_;
}

std::size_t Admission::tracked_buckets() const {
  return count_in_shards([](const Shard& s) { return s.buckets.size(); });
}

std::size_t Admission::tracked_token_days() const {
  return count_in_shards([](const Shard& s) { return s.token_days.size(); });
}

std::size_t Admission::count_in_shards(std::size_t (*count)(const Shard&)) const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    n += count(*shard);
  }
  return n;
}

std::size_t Admission::queue_depth() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

TrafficSnapshot Admission::traffic() {
  std::lock_guard lock(mu_);
  return detector_.snapshot(clock_.now());
}

}  // namespace ma::admission
