#include "resilience/retry_quota.hpp"

#include <algorithm>

namespace ma::resilience {

std::optional<int> RetryQuota::acquire(ErrorClass c) {
  int cost = c == ErrorClass::kTimeout ? spec_.timeout_retry_cost : spec_.retry_cost;
  if (c == ErrorClass::kThrottling && spec_.throttling_retry_cost)
    cost = *spec_.throttling_retry_cost;
  if (!acquire_raw(cost)) return std::nullopt;
  return cost;
}

bool RetryQuota::acquire_raw(int n) {
  if (n > available_) return false;
  available_ -= n;
  return true;
}

void RetryQuota::release_raw(int n) { available_ = std::min(spec_.capacity, available_ + n); }

void RetryQuota::on_success(int last_retry_cost) {
  release_raw(last_retry_cost > 0 ? last_retry_cost : spec_.no_retry_increment);
}

}  // namespace ma::resilience
