#pragma once
// RetryPolicy: when (and whether) to retry a failed model call. Combines, in this order:
//   1. the error class (only throttling, transient and timeout are retryable);
//   2. the maximum number of attempts (runtime-changeable; 0 and 1 both mean "no retry":
//      the storm brake of the runbook, RETRY_MAX_ATTEMPTS=0);
//   3. the backoff delay (jitter; a provider's Retry-After raises it, bounded to +5 s);
//   4. the deadline: never sleep into the time the reply needs;
//   5. the per-client retry quota (AWS standard mode);
//   6. the fleet retry budget (shared by every model and, in fleet mode, every server).
// The order of 2 before 5 is the AWS SEP's (tests/data/aws_retry_sep_standard_legacy.json).
//
// Thread safety: RetryPolicy is shared by all requests to one model and is thread-safe (its
// quota sits under a mutex). The budget must be thread-safe when shared across threads
// (LockedRetryBudget). Attempts belongs to one request.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "core/deadline.hpp"
#include "core/random.hpp"
#include "core/spin_lock.hpp"
#include "resilience/backoff.hpp"
#include "resilience/error_class.hpp"
#include "resilience/retry_budget.hpp"
#include "resilience/retry_quota.hpp"

namespace ma::resilience {

struct RetryConfig {
  int max_attempts = 3;  // attempts in all, first included
  BackoffSpec backoff{};
  RetryQuotaSpec quota{};
  // Time a retry must still have before the deadline to be worth making.
  Duration min_attempt_time = std::chrono::milliseconds(50);
  Duration max_retry_after_extra = std::chrono::seconds(5);
};

enum class RetryVerdict : std::uint8_t {
  kRetry,
  kNotRetryable,
  kMaxAttempts,
  kDeadline,
  kQuotaExceeded,
  kBudgetExceeded,
};
std::string_view to_string(RetryVerdict v);

struct RetryDecision {
  RetryVerdict verdict;
  Duration delay{};  // meaningful for kRetry
  bool retry() const { return verdict == RetryVerdict::kRetry; }
};

// A RetryBudget made safe to share between threads.
class LockedRetryBudget final : public RetryBudget {
 public:
  explicit LockedRetryBudget(std::unique_ptr<RetryBudget> inner) : inner_(std::move(inner)) {}
  void on_request(TimePoint now) override {
    std::lock_guard lock(mu_);
    inner_->on_request(now);
  }
  [[nodiscard]] bool try_spend(TimePoint now) override {
    std::lock_guard lock(mu_);
    return inner_->try_spend(now);
  }
  double available(TimePoint now) override {
    std::lock_guard lock(mu_);
    return inner_->available(now);
  }

 private:
  core::SpinLock mu_;  // the in-process budgets decide in O(1)
  std::unique_ptr<RetryBudget> inner_;
};

class RetryPolicy final {
 public:
  // `budget` may be null (no fleet budget); not owned; must outlive the policy.
  RetryPolicy(RetryConfig config, RetryBudget* budget);
  // Starts with `initial_quota` tokens instead of a full quota (test vectors).
  RetryPolicy(RetryConfig config, RetryBudget* budget, int initial_quota);
  RetryPolicy(const RetryPolicy&) = delete;
  RetryPolicy& operator=(const RetryPolicy&) = delete;

  void set_max_attempts(int n) { max_attempts_.store(n, std::memory_order_relaxed); }
  int max_attempts() const { return max_attempts_.load(std::memory_order_relaxed); }
  // The retry quota left (lock-free; exact once the decisions in flight are done).
  int quota_available() const;
  const RetryConfig& config() const { return config_; }

  // The retry state of one request.
  class Attempts final {
   public:
    // After a failed attempt: retry (and after how long) or stop (and why).
    // `u` is the uniform sample for the jitter; `retry_after` a provider's hint.
    RetryDecision on_failure(ErrorClass c, TimePoint now, double u,
                             std::optional<Duration> retry_after = std::nullopt);
    RetryDecision on_failure(ErrorClass c, TimePoint now, core::Random& rng,
                             std::optional<Duration> retry_after = std::nullopt) {
      return on_failure(c, now, rng.uniform01(), retry_after);
    }
    // on_failure in two steps, for a caller whose fleet budget may block (may_block()): decide
    // is everything but the budget; when it answers kRetry and budget_pending(), the caller
    // spends one retry from budget() where waiting is allowed and hands the answer to
    // settle(), which returns the final decision (a refusal hands the quota's cost back).
    // `now`: when the budget answered; a retry that no longer fits before the deadline
    // (the spend waited) is kDeadline, its quota cost handed back.
    RetryDecision decide(ErrorClass c, TimePoint now, double u,
                         std::optional<Duration> retry_after = std::nullopt);
    RetryDecision settle(RetryDecision decided, bool budget_granted, TimePoint now);
    bool budget_pending() const { return pending_cost_ >= 0 && policy_->budget_ != nullptr; }
    RetryBudget& budget() const { return *policy_->budget_; }
    bool budget_may_block() const {
      return policy_->budget_ != nullptr && policy_->budget_->may_block();
    }
    void on_success();
    int attempts() const { return attempts_; }

    // A cost decide() took and no settle() resolved (the request ended while the budget was
    // asked) goes back to the quota.
    ~Attempts();
    Attempts(Attempts&& o) noexcept
        : policy_(o.policy_),
          deadline_(o.deadline_),
          backoff_(o.backoff_),
          attempts_(o.attempts_),
          last_cost_(o.last_cost_),
          pending_cost_(std::exchange(o.pending_cost_, -1)) {}
    Attempts& operator=(Attempts&&) = delete;

   private:
    friend class RetryPolicy;
    Attempts(RetryPolicy& p, core::Deadline d)
        : policy_(&p), deadline_(d), backoff_(p.config_.backoff) {}
    RetryPolicy* policy_;
    core::Deadline deadline_;
    Backoff backoff_;
    int attempts_ = 1;
    int last_cost_ = 0;
    int pending_cost_ = -1;  // the quota's cost of a retry decide() allowed; -1: none
  };

  // Starts a request (its first attempt): deposits into the fleet budget.
  Attempts begin(TimePoint now, core::Deadline deadline);

 private:
  RetryConfig config_;
  RetryBudget* budget_;
  std::atomic<int> max_attempts_;
  core::SpinLock mu_;
  RetryQuota quota_;
  std::atomic<int> shown_quota_;  // quota_.available(), for readers that take no lock
};

}  // namespace ma::resilience
