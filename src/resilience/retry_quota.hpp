#pragma once
// The AWS SDK "standard" retry quota (SEP "Retry behavior", botocore retries/quota.py and
// standard.py RetryQuotaChecker): a bucket of retry tokens that failing retries drain and
// successes refill, so a client stops retrying when most of its retries fail.
//
//   start with 500 tokens; a retry costs 5 (10 after a timeout); a success refunds the cost of
//   the retry that led to it, or adds 1 when it needed no retry; never above the start value.
// The costs are a spec: botocore's 2026 mode (5 after throttling, 14 otherwise) is one too.

#include <optional>

#include "resilience/error_class.hpp"

namespace ma::resilience {

struct RetryQuotaSpec {
  int capacity = 500;
  int retry_cost = 5;
  int timeout_retry_cost = 10;
  int no_retry_increment = 1;
  // What a retry after a throttling error costs; unset, retry_cost (the legacy standard mode).
  // botocore's 2026 standard mode charges 5 there and 14 for every other retry.
  std::optional<int> throttling_retry_cost = std::nullopt;
};

// Thread safety: none; callers serialise (the cascade holds one per model under its lock).
class RetryQuota final {
 public:
  explicit RetryQuota(RetryQuotaSpec spec = {}) : spec_(spec), available_(spec.capacity) {}
  // A quota that starts below capacity (the AWS vectors start some cases at 5 or 0).
  RetryQuota(RetryQuotaSpec spec, int initial)
      : spec_(spec), available_(std::min(initial, spec.capacity)) {}

  // Takes the cost of one retry after an error of class `c`. Returns the cost taken (to be
  // handed back to release()), or nullopt, taking nothing, when too few tokens remain.
  [[nodiscard]] std::optional<int> acquire(ErrorClass c);
  // Raw acquire/release of `n` tokens (botocore RetryQuota).
  [[nodiscard]] bool acquire_raw(int n);
  void release_raw(int n);

  // Records the success of a request: `last_retry_cost` is what the retry that led to it
  // cost, or 0 when it succeeded at the first attempt.
  void on_success(int last_retry_cost);

  int available() const { return available_; }
  const RetryQuotaSpec& spec() const { return spec_; }

 private:
  RetryQuotaSpec spec_;
  int available_;
};

}  // namespace ma::resilience
