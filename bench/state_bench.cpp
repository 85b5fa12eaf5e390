// Fleet-state decisions through the Redis connection pool (`make bench-redis` starts a
// redis-server on loopback and sets MA_REDIS_URL; without it these benchmarks skip).
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "core/real_clock.hpp"
#include "state/redis_state.hpp"

namespace {

using namespace ma;

std::unique_ptr<state::RedisState> make_state(int pool) {
  const char* url = std::getenv("MA_REDIS_URL");
  if (url == nullptr) return nullptr;
  static core::RealClock clock;
  state::RedisStateConfig c;
  c.redis.url = state::RedisUrl::parse(url).value();
  c.redis.pool_size = static_cast<std::size_t>(pool);
  c.fleet = "bench";
  c.retries_per_minute = 100;
  return std::make_unique<state::RedisState>(c, clock);
}

// One fleet retry-budget decision: the Lua script (trim, count, maybe add) via EVALSHA.
void BM_RedisRetryBudgetDecision(benchmark::State& st) {
  static std::unique_ptr<state::RedisState> s;
  if (st.thread_index() == 0) s = make_state(8);
  if (!s) {
    st.SkipWithError("MA_REDIS_URL not set (run make bench-redis)");
    return;
  }
  core::RealClock clock;
  for (auto _ : st) benchmark::DoNotOptimize(s->retry_budget().try_spend(clock.now()));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_RedisRetryBudgetDecision)->Threads(1)->Threads(4)->UseRealTime();

// The pool's round trip alone, for scale.
void BM_RedisPing(benchmark::State& st) {
  static std::unique_ptr<state::RedisState> s;
  if (st.thread_index() == 0) s = make_state(8);
  if (!s) {
    st.SkipWithError("MA_REDIS_URL not set (run make bench-redis)");
    return;
  }
  for (auto _ : st) benchmark::DoNotOptimize(s->client().command({"PING"}));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_RedisPing)->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
