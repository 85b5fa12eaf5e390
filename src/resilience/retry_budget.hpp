#pragma once
// Fleet retry budgets: a limit on retries across many requests (and, with the Redis
// implementation in src/state, across every server of a fleet), so that a throttled model
// sees its load grow by a bounded fraction instead of multiplying by the attempt count.
//
// Two local kinds:
// - CappedRetryBudget: at most N retries in any rolling minute (the seed runbook's
//   100/min). Exact: keeps the times of the last N retries.
// - RatioRetryBudget: retries <= ratio x requests of the last `ttl`, plus a reserve of
//   `min_per_second` x ttl (Finagle's RetryBudget; userver's retry_budget is the same idea).
//
// Pure: every call takes `now`. Thread safety: none; callers serialise.

#include <cstdint>
#include <vector>

#include "core/time.hpp"

namespace ma::resilience {

using core::Duration;
using core::TimePoint;

class RetryBudget {
 public:
  virtual ~RetryBudget() = default;
  // Every first attempt of a request deposits here.
  virtual void on_request(TimePoint now) = 0;
  // Asks to spend one retry. False: the budget is exhausted and the caller must not retry.
  [[nodiscard]] virtual bool try_spend(TimePoint now) = 0;
  // How many retries could be spent right now (for metrics and /status).
  virtual double available(TimePoint now) = 0;
  // True when try_spend may wait on the network (the fleet's budget in Redis): a caller on
  // a thread that serves requests then spends elsewhere (RetryPolicy::Attempts::decide).
  virtual bool may_block() const { return false; }
};

class CappedRetryBudget final : public RetryBudget {
 public:
  explicit CappedRetryBudget(int max_retries, Duration window = std::chrono::minutes(1));

  void on_request(TimePoint) override {}
  [[nodiscard]] bool try_spend(TimePoint now) override;
  double available(TimePoint now) override;

 private:
  Duration window_;
  std::vector<TimePoint> ring_;  // times of the last N spends; ring_[next_] is the oldest
  std::size_t next_ = 0;
  std::size_t used_ = 0;
};

class RatioRetryBudget final : public RetryBudget {
 public:
  // REQUIRES: 0 <= ratio <= 1, ttl >= 1 s.
  RatioRetryBudget(double ratio, double min_per_second, Duration ttl = std::chrono::seconds(10));

  void on_request(TimePoint now) override;
  [[nodiscard]] bool try_spend(TimePoint now) override;
  double available(TimePoint now) override;

 private:
  // Deposits and withdrawals per second of the ttl window, in hundredths of a retry.
  void advance(TimePoint now);
  double balance() const;

  double ratio_;
  double reserve_;
  std::int64_t slots_;
  std::vector<double> deposits_;  // requests x ratio, per second
  std::vector<double> spent_;     // retries, per second
  std::int64_t head_second_ = INT64_MIN;
  double total_deposits_ = 0;
  double total_spent_ = 0;
};

}  // namespace ma::resilience
