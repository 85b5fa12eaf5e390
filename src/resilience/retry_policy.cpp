#include "resilience/retry_policy.hpp"

#include <algorithm>

namespace ma::resilience {

std::string_view to_string(RetryVerdict v) {
  switch (v) {
    case RetryVerdict::kRetry:
      return "retry";
    case RetryVerdict::kNotRetryable:
      return "not_retryable";
    case RetryVerdict::kMaxAttempts:
      return "max_attempts";
    case RetryVerdict::kDeadline:
      return "deadline";
    case RetryVerdict::kQuotaExceeded:
      return "quota_exceeded";
    case RetryVerdict::kBudgetExceeded:
      return "budget_exceeded";
  }
  return "unknown";
}

RetryPolicy::RetryPolicy(RetryConfig config, RetryBudget* budget)
    : RetryPolicy(config, budget, config.quota.capacity) {}

RetryPolicy::RetryPolicy(RetryConfig config, RetryBudget* budget, int initial_quota)
    : config_(config),
      budget_(budget),
      max_attempts_(config.max_attempts),
      quota_(config.quota, initial_quota),
      shown_quota_(quota_.available()) {}

int RetryPolicy::quota_available() const { return shown_quota_.load(std::memory_order_relaxed); }

RetryPolicy::Attempts RetryPolicy::begin(TimePoint now, core::Deadline deadline) {
  if (budget_ != nullptr) budget_->on_request(now);
  return Attempts(*this, deadline);
}

RetryDecision RetryPolicy::Attempts::on_failure(ErrorClass c, TimePoint now, double u,
                                                std::optional<Duration> retry_after) {
  const RetryDecision d = decide(c, now, u, retry_after);
  if (!d.retry() || !budget_pending()) return settle(d, true, now);
  return settle(d, policy_->budget_->try_spend(now), now);
}

RetryPolicy::Attempts::~Attempts() {
  if (pending_cost_ < 0) return;
  std::lock_guard lock(policy_->mu_);
  policy_->quota_.release_raw(pending_cost_);
  policy_->shown_quota_.store(policy_->quota_.available(), std::memory_order_relaxed);
}

RetryDecision RetryPolicy::Attempts::decide(ErrorClass c, TimePoint now, double u,
                                            std::optional<Duration> retry_after) {
  RetryPolicy& p = *policy_;
  pending_cost_ = -1;
  if (!is_retryable(c)) return {RetryVerdict::kNotRetryable};
  if (attempts_ >= std::max(1, p.max_attempts())) return {RetryVerdict::kMaxAttempts};

  Duration delay = backoff_.next_with(u);
  if (retry_after && *retry_after > Duration::zero()) {
    delay = std::max(delay, std::min(*retry_after, delay + p.config_.max_retry_after_extra));
  }
  if (!deadline_.is_never() && now + delay + p.config_.min_attempt_time > deadline_.at()) {
    return {RetryVerdict::kDeadline};
  }
  std::optional<int> cost;
  {
    std::lock_guard lock(p.mu_);
    cost = p.quota_.acquire(c);
    p.shown_quota_.store(p.quota_.available(), std::memory_order_relaxed);
  }
  if (!cost) return {RetryVerdict::kQuotaExceeded};
  pending_cost_ = *cost;
  return {RetryVerdict::kRetry, delay};
}

RetryDecision RetryPolicy::Attempts::settle(RetryDecision decided, bool budget_granted,
                                            TimePoint now) {
  if (!decided.retry()) return decided;
  RetryPolicy& p = *policy_;
  const int cost = pending_cost_;
  pending_cost_ = -1;
  // The fleet budget may have asked Redis (on another thread, for a while): never while
  // holding the quota's lock, and the deadline is checked again after it answered.
  RetryVerdict refused = RetryVerdict::kRetry;
  if (p.budget_ != nullptr && !budget_granted) {
    refused = RetryVerdict::kBudgetExceeded;
  } else if (!deadline_.is_never() &&
             now + decided.delay + p.config_.min_attempt_time > deadline_.at()) {
    refused = RetryVerdict::kDeadline;
  }
  if (refused != RetryVerdict::kRetry) {
    std::lock_guard lock(p.mu_);
    p.quota_.release_raw(cost);  // the retry is not made: hand its cost back
    p.shown_quota_.store(p.quota_.available(), std::memory_order_relaxed);
    return {refused};
  }
  last_cost_ = cost;
  ++attempts_;
  return decided;
}

void RetryPolicy::Attempts::on_success() {
  std::lock_guard lock(policy_->mu_);
  policy_->quota_.on_success(last_cost_);
  policy_->shown_quota_.store(policy_->quota_.available(), std::memory_order_relaxed);
}

}  // namespace ma::resilience
