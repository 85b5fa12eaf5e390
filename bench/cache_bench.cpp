// Response cache (issue: content-aware cache). Targets: lookup and insert < 1 us at 100,000
// entries; invalidating one product referenced by 1,000 entries < 1 ms.
#include <benchmark/benchmark.h>

#include "cache/response_cache.hpp"

namespace {

using namespace ma;
using namespace std::chrono_literals;
const core::TimePoint kT0{std::chrono::hours(1)};

cache::CachedReply reply(int i) {
  cache::CachedReply r;
  r.text = "ONE PIECE volume " + std::to_string(i % 110 + 1) +
           " is ¥528 (tax included). It is in stock.";
  r.category = "pricing";
  r.product_ids = {"mg-" + std::to_string(i % 2000) + "-v" + std::to_string(i % 110 + 1)};
  r.stated_prices = {{r.product_ids[0], 528}};
  return r;
}

std::string key(int i) {
  return cache::ResponseCache::key("pricing", "en",
                                   "how much is series " + std::to_string(i) + " volume 3", "");
}

void fill(cache::ResponseCache& c, int n) {
  for (int i = 0; i < n; ++i) c.put(key(i), reply(i), 1h, kT0);
}

void BM_CacheLookupHit100k(benchmark::State& state) {
  cache::ResponseCache c;
  fill(c, 100'000);
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i) keys.push_back(key(i * 97 % 100'000));
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(c.get(keys[i++ & 1023], kT0));
}
BENCHMARK(BM_CacheLookupHit100k);

void BM_CacheLookupMiss100k(benchmark::State& state) {
  cache::ResponseCache c;
  fill(c, 100'000);
  const std::string k = key(1'000'000);
  for (auto _ : state) benchmark::DoNotOptimize(c.get(k, kT0));
}
BENCHMARK(BM_CacheLookupMiss100k);

void BM_CacheInsertAt100k(benchmark::State& state) {
  cache::ResponseCache c({.max_entries = 100'000});
  fill(c, 100'000);  // full: every insert also evicts the least recently used
  std::vector<std::pair<std::string, cache::CachedReply>> items;
  for (int i = 0; i < 4096; ++i) items.emplace_back(key(200'000 + i), reply(i));
  std::size_t i = 0;
  for (auto _ : state) {
    auto& [k, r] = items[i++ & 4095];
    c.put(k, r, 1h, kT0);
  }
}
BENCHMARK(BM_CacheInsertAt100k);

void BM_CacheInvalidateProductWith1000Entries(benchmark::State& state) {
  cache::ResponseCache c;
  fill(c, 100'000);
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < 1000; ++i) {
      auto r = reply(i);
      r.product_ids = {"mg-0004-v105"};
      c.put("hot" + std::to_string(i), std::move(r), 1h, kT0);
    }
    state.ResumeTiming();
    benchmark::DoNotOptimize(c.invalidate_product("mg-0004-v105"));
  }
}
BENCHMARK(BM_CacheInvalidateProductWith1000Entries)->Unit(benchmark::kMicrosecond);

}  // namespace
