#pragma once
// Admission control (seed incident 2): per-user limits that tell the truth, a global limit
// that queues instead of rejecting, priority by tier, and a global limit that follows
// organic demand up to what the models can take.
//
//   per user    a token bucket per user (or per session/source when anonymous), sized by the
//               tier's usage plan. Over it -> kUserLimited: the one case a user hears "you are
//               sending too fast" (429, scope user), with the true time until they can send.
//   per source  a generous bucket per source address: one machine cannot pose as a crowd.
//   tokens      a plan may carry a daily model-token budget per user: each admitted message
//               reserves an estimate, settled with the tokens the models billed once it is
//               answered. A spent budget -> kUserLimited, scope "tokens", with the time until
//               the user's day resets (never "too fast").
//   global      one bucket for the service. When it is empty nobody is told they are too
//               fast: the message waits in a bounded priority queue (premium > registered >
//               anonymous, FIFO within a tier) for at most `max_wait`, with position and ETA
//               updates; a message still waiting then gets an honest high-demand reply.
//   dynamic     the spike detector raises the global rate toward the protected model
//               capacity during an organic spike and lowers it as traffic subsides; a
//               scheduled event pre-scales it (events calendar).
//
// One engine, two drivers: waits go through the injected Clock, so the simulator replays
// this code on virtual time. Thread safety: admit() may run on any thread; the shared state
// is under one mutex held for O(1) work; per-user buckets are sharded.

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "admission/spike_detector.hpp"
#include "core/clock.hpp"
#include "core/spin_lock.hpp"
#include "core/thread_slot.hpp"
#include "resilience/token_bucket.hpp"

namespace ma::admission {

enum class Priority : std::uint8_t { kAnonymous = 0, kRegistered = 1, kPremium = 2 };
std::string_view to_string(Priority p);
inline constexpr int kPriorities = 3;

// An API Gateway style usage plan.
struct UsagePlan {
  double rate = 1;  // messages per second
  double burst = 5;
  std::int64_t quota = 0;  // per day; 0 = none
  // Model tokens (input + output) a user may use per day; 0 = none. The day is the message
  // quota's: kQuotaPeriod (24 h) from the user's first message under the budget, rolling
  // over in whole periods.
  std::int64_t daily_tokens = 0;
};

// The length of a user's day (message quota and token budget).
inline constexpr core::Duration kQuotaPeriod = std::chrono::hours(24);

// A scheduled marketing event: from `prescale_from` to `end` the global rate is at least
// `global_rate` (a launch at 18:00 raises limits from 16:00).
struct ScheduledEvent {
  std::string name;
  core::WallTime prescale_from, end;
  double global_rate = 0;
};

struct AdmissionConfig {
  std::array<UsagePlan, kPriorities> plans = {UsagePlan{0.5, 5, 0}, UsagePlan{1, 10, 0},
                                              UsagePlan{3, 20, 0}};
  UsagePlan per_source{20, 60, 0};  // daily_tokens does not apply here
  // Tokens reserved at admission for one message of a plan with a token budget, until its
  // reply reports what it really used.
  std::int64_t token_estimate = 800;
  double global_rate = 2000;  // the base (static) global limit, messages/s
  double global_burst = 4000;
  bool dynamic = true;            // follow organic spikes
  double max_global_rate = 6000;  // never above this, whatever the models can take
  core::Duration max_wait = std::chrono::seconds(30);
  std::size_t max_queue = 200'000;
  core::Duration update_every = std::chrono::seconds(2);  // queued position updates
  SpikeConfig spike{};
  std::vector<ScheduledEvent> events;
};

struct AdmissionRequest {
  std::string user_key;  // user id, else session id, else source
  std::string source;    // client address
  Priority priority = Priority::kAnonymous;
  std::uint64_t question_hash = 0;
};

enum class Outcome : std::uint8_t { kAdmitted, kUserLimited, kQueueTimeout };

struct AdmissionResult {
  Outcome outcome = Outcome::kAdmitted;
  bool queued = false;
  core::Duration waited{};
  core::Duration retry_after{};  // kUserLimited: when this user may send again
  std::string scope;             // kUserLimited: "user", "source" or "tokens"
  core::WallTime resets_at{};    // scope "tokens": when the user's token day resets
};

class Admission;

// The tokens reserved for one admitted message under a plan with a token budget. Move-only;
// settled exactly once: settle(actual) with what the message used (0 when refused later or
// answered without a model), or, if it is destroyed unsettled (the caller's frame torn
// down mid-answer), with the estimate: the provider may well have billed it.
class TokenReservation final {
 public:
  TokenReservation() = default;
  TokenReservation(TokenReservation&& o) noexcept { *this = std::move(o); }
  TokenReservation& operator=(TokenReservation&& o) noexcept;
  TokenReservation(const TokenReservation&) = delete;
  TokenReservation& operator=(const TokenReservation&) = delete;
  ~TokenReservation() { settle(reserved_); }

  explicit operator bool() const { return owner_ != nullptr; }
  std::int64_t reserved() const { return owner_ ? reserved_ : 0; }
  // Replaces the reservation with `actual` tokens used; no-op when empty or settled.
  void settle(std::int64_t actual);

 private:
  friend class Admission;
  Admission* owner_ = nullptr;
  std::uint64_t key_ = 0;
  std::int64_t reserved_ = 0;
  core::TimePoint day_start_{};  // the user's day the reservation belongs to
};

// Called when the message is queued and then every `update_every`: position (1 = next) and
// the estimated wait.
using QueuedSink = std::function<void(std::size_t position, core::Duration eta)>;

struct AdmissionStats {
  core::StatCounter admitted;
  core::StatCounter queued;
  core::StatCounter limited_user;
  core::StatCounter limited_source;
  core::StatCounter limited_tokens;
  core::StatCounter queue_timeouts;
  core::StatCounter wait_ns_total;  // over dequeued messages
  core::StatCounter dequeued;
};

class Admission final {
 public:
  // `capacity`: what the models can take right now (messages/s), from the adaptive limiters
  // and model quotas; the dynamic limit never exceeds it. May be empty (no cap but max).
  Admission(core::Clock& clock, AdmissionConfig config, std::function<double()> capacity = {});
  ~Admission();
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Decides, and waits in the queue when the global limit is exhausted. The caller's
  // executor runs the wait. Always completes: at the latest after `max_wait`.
  // `tokens`: where a message of a plan with a token budget leaves its reservation (set
  // whenever the message passed the per-user checks, even if it then times out in the
  // queue); null: the budget is checked but nothing is reserved.
  boost::asio::awaitable<AdmissionResult> admit(AdmissionRequest req, QueuedSink on_queued = {},
                                                TokenReservation* tokens = nullptr);

  // admit() in two steps, for callers that want to skip a coroutine when no wait is needed:
  // try_admit decides at once (admitted, or over the sender's own limit) or returns nullopt,
  // and then the message must wait_in_queue (which does not decide again). The reservation,
  // if any, is made by try_admit.
  std::optional<AdmissionResult> try_admit(const AdmissionRequest& req,
                                           TokenReservation* tokens = nullptr);
  boost::asio::awaitable<AdmissionResult> wait_in_queue(AdmissionRequest req,
                                                        QueuedSink on_queued = {});

  // The per-user and per-source part alone (no global bucket, no queue). Pure and fast: the
  // common path of admit() when the global bucket has tokens.
  [[nodiscard]] AdmissionResult check_user(const AdmissionRequest& req, core::TimePoint now,
                                           TokenReservation* tokens = nullptr);

  // Tokens (input + output) the user has used and holds reserved in their current day.
  struct TokenUsage {
    std::int64_t used = 0, reserved = 0;
  };
  TokenUsage token_usage(const std::string& user_key) const;

  // Runtime changes (admin API).
  void set_plan(Priority p, UsagePlan plan);
  void set_global(double rate, double burst, bool dynamic);
  AdmissionConfig config() const;

  double global_rate() const;  // the limit in force now
  std::size_t queue_depth() const;
  // Per-user and per-source buckets held: the visitors of the last few seconds (a bucket is
  // forgotten once it has refilled), plus those with a daily quota in use.
  std::size_t tracked_buckets() const;
  // Users with a token day held: those who used tokens in a day not yet over, or hold a
  // reservation.
  std::size_t tracked_token_days() const;
  TrafficSnapshot traffic();
  SpikeKind spike() const { return spike_.load(); }
  const AdmissionStats& stats() const { return stats_; }

 private:
  friend class TokenReservation;
  struct Waiter;
  struct Shard;
  void settle_tokens(const TokenReservation& r, std::int64_t actual);
  std::size_t count_in_shards(std::size_t (*count)(const Shard&)) const;
  boost::asio::awaitable<void> dispatch();
  void retune(core::TimePoint now);                // REQUIRES: mu_ held
  std::size_t position_of(const Waiter& w) const;  // REQUIRES: mu_ held
  void grant_locked(std::shared_ptr<Waiter> w);

  core::Clock& clock_;
  std::function<double()> capacity_;
  std::array<std::unique_ptr<Shard>, 16> shards_;

  mutable core::SpinLock mu_;  // everything below (O(1) work: a spin lock, no futex)
  AdmissionConfig config_;
  resilience::TokenBucket global_;
  double rate_in_force_;
  core::Duration forget_after_;  // a bucket idle this long is full under every plan
  std::int64_t last_retune_second_ = INT64_MIN;
  SpikeDetector detector_;
  std::array<std::deque<std::shared_ptr<Waiter>>, kPriorities> queues_;
  std::array<std::uint64_t, kPriorities> enqueued_{};
  std::array<std::uint64_t, kPriorities> dequeued_{};
  std::size_t waiting_ = 0;
  bool dispatcher_running_ = false;
  std::optional<boost::asio::any_io_executor> dispatcher_executor_;

  std::atomic<SpikeKind> spike_{SpikeKind::kNone};
  AdmissionStats stats_;
};

}  // namespace ma::admission
