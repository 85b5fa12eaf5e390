// Fleet-state decisions through the Redis connection pool (`make bench-redis` starts a
// redis-server on loopback and sets MA_REDIS_URL; without it these benchmarks skip).
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "core/real_clock.hpp"
#include "state/redis/redis_state.hpp"

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

// The shared response cache. Put: what the request's thread pays for a new answer (a
// distinct question each time, the common case): building the write and queueing it; the
// writer thread is drained outside the timing every 1,000. Write: a put through to Redis
// (the Lua script stamping the tags' generations). Get: a hit, the script checking them.
cache::CachedReply pricing_answer() {
  cache::CachedReply r;
  r.text = "ONE PIECE 105巻は528円です。";
  r.category = "pricing";
  r.product_ids = {"one-piece-v105"};
  r.stated_prices = {{"one-piece-v105", 528}};
  return r;
}

enum class CacheOp { kPut, kWrite, kGet };

void BM_RedisCache(benchmark::State& st, CacheOp op) {
  auto s = make_state(8);
  if (!s) {
    st.SkipWithError("MA_REDIS_URL not set (run make bench-redis)");
    return;
  }
  cache::SharedCacheTier& tier = *s->cache_tier();
  const cache::CachedReply r = pricing_answer();
  tier.put("pricing|ja||hot", r, std::chrono::minutes(15));
  tier.sync();
  std::uint64_t i = 0;
  for (auto _ : st) {
    if (op == CacheOp::kGet) {
      benchmark::DoNotOptimize(tier.get("pricing|ja||hot"));
      continue;
    }
    tier.put("pricing|ja||q" + std::to_string(i++), r, std::chrono::minutes(15));
    if (op == CacheOp::kWrite) {
      tier.sync();
    } else if (i % 1000 == 0) {
      st.PauseTiming();
      tier.sync();
      st.ResumeTiming();
    }
  }
  if (tier.dropped_writes() != 0) st.SkipWithError("writes were dropped: the figure is wrong");
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK_CAPTURE(BM_RedisCache, Put, CacheOp::kPut)->UseRealTime();
BENCHMARK_CAPTURE(BM_RedisCache, Write, CacheOp::kWrite)->UseRealTime();
BENCHMARK_CAPTURE(BM_RedisCache, Get, CacheOp::kGet)->UseRealTime();

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
