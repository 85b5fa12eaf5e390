// Micro benchmarks of the resilience decisions (issue: foundation). Target: < 50 ns/op each.
#include <benchmark/benchmark.h>

#include "resilience/adaptive_rate.hpp"
#include "resilience/backoff.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/error_class.hpp"
#include "resilience/retry_budget.hpp"
#include "resilience/retry_quota.hpp"
#include "resilience/token_bucket.hpp"

namespace {

using namespace ma;
using namespace std::chrono_literals;

const core::TimePoint kT0{std::chrono::hours(1)};

void BM_TokenBucketAcquire(benchmark::State& state) {
  resilience::TokenBucket b({.rate = 1e9, .burst = 1e9}, kT0);
  core::TimePoint now = kT0;
  for (auto _ : state) {
    now += 1us;
    benchmark::DoNotOptimize(b.try_acquire(now));
  }
}
BENCHMARK(BM_TokenBucketAcquire);

void BM_BreakerAllowAndRecordCountWindow(benchmark::State& state) {
  resilience::CircuitBreaker cb({});
  core::TimePoint now = kT0;
  for (auto _ : state) {
    now += 1us;
    if (cb.try_acquire(now)) cb.on_success(now, 2ms);
  }
}
BENCHMARK(BM_BreakerAllowAndRecordCountWindow);

void BM_BreakerAllowAndRecordTimeWindow(benchmark::State& state) {
  resilience::BreakerSpec s;
  s.window_type = resilience::WindowType::kTimeBased;
  s.window_size = 10;
  resilience::CircuitBreaker cb(s);
  core::TimePoint now = kT0;
  for (auto _ : state) {
    now += 10us;
    if (cb.try_acquire(now)) cb.on_success(now, 2ms);
  }
}
BENCHMARK(BM_BreakerAllowAndRecordTimeWindow);

void BM_BackoffNextDecorrelated(benchmark::State& state) {
  core::Random rng(1);
  resilience::Backoff b({});
  int i = 0;
  for (auto _ : state) {
    if (++i % 8 == 0) b.reset();
    benchmark::DoNotOptimize(b.next(rng));
  }
}
BENCHMARK(BM_BackoffNextDecorrelated);

void BM_RetryQuotaAcquireRelease(benchmark::State& state) {
  resilience::RetryQuota q;
  for (auto _ : state) {
    auto c = q.acquire(resilience::ErrorClass::kThrottling);
    benchmark::DoNotOptimize(c);
    q.on_success(c.value_or(0));
  }
}
BENCHMARK(BM_RetryQuotaAcquireRelease);

void BM_AdaptiveLimiterUpdate(benchmark::State& state) {
  resilience::AdaptiveRateLimiter lim;
  core::TimePoint now = kT0;
  std::uint64_t i = 0;
  for (auto _ : state) {
    now += 100us;
    lim.update(now, (++i % 1000) == 0);
  }
}
BENCHMARK(BM_AdaptiveLimiterUpdate);

void BM_AdaptiveLimiterAcquire(benchmark::State& state) {
  resilience::AdaptiveRateLimiter lim;
  core::TimePoint now = kT0;
  lim.update(now, true);
  for (auto _ : state) {
    now += 100us;
    benchmark::DoNotOptimize(lim.try_acquire(now));
  }
}
BENCHMARK(BM_AdaptiveLimiterAcquire);

void BM_ClassifyStatusAndCode(benchmark::State& state) {
  const std::string_view codes[] = {"ThrottlingException", "ServiceUnavailableException",
                                    "ValidationException", "", "SomethingNew"};
  const int statuses[] = {429, 503, 400, 500, 418};
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(resilience::classify(statuses[i % 5], codes[i % 5]));
    ++i;
  }
}
BENCHMARK(BM_ClassifyStatusAndCode);

void BM_ParseErrorBody(benchmark::State& state) {
  const std::string body =
      R"({"__type":"com.amazon.bedrock#ThrottlingException","message":"Too many requests"})";
  for (auto _ : state) benchmark::DoNotOptimize(resilience::parse_error(429, "", body));
}
BENCHMARK(BM_ParseErrorBody);

void BM_CappedRetryBudget(benchmark::State& state) {
  resilience::CappedRetryBudget b(100);
  core::TimePoint now = kT0;
  for (auto _ : state) {
    now += 1ms;
    benchmark::DoNotOptimize(b.try_spend(now));
  }
}
BENCHMARK(BM_CappedRetryBudget);

void BM_RatioRetryBudget(benchmark::State& state) {
  resilience::RatioRetryBudget b(0.1, 10);
  core::TimePoint now = kT0;
  for (auto _ : state) {
    now += 100us;
    b.on_request(now);
    benchmark::DoNotOptimize(b.try_spend(now));
  }
}
BENCHMARK(BM_RatioRetryBudget);

}  // namespace
