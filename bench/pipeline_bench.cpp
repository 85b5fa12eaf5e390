// Micro benchmarks of the request path before any model call (issue: chat service).
#include <benchmark/benchmark.h>

#include "assist/retrieval.hpp"
#include "assist/understanding.hpp"
#include "catalog/catalog.hpp"
#include "core/text.hpp"

namespace {

using namespace ma;

catalog::Catalog& the_catalog() {
  static auto c = catalog::Catalog::open({MA_DATA_DIR, ":memory:"});
  return **c;
}

const core::WallTime kNow{std::chrono::seconds(1795694400)};

void BM_Understand(benchmark::State& state, const char* msg) {
  auto& cat = the_catalog();
  for (auto _ : state) benchmark::DoNotOptimize(assist::understand(msg, cat));
}
BENCHMARK_CAPTURE(BM_Understand, kanji_pricing, "ONE PIECEの105巻はいくら？");
BENCHMARK_CAPTURE(BM_Understand, english_recommendation, "Recommend something like Naruto");
BENCHMARK_CAPTURE(BM_Understand, order, "Where is my order #12345?");

void BM_Retrieve(benchmark::State& state, const char* msg) {
  auto& cat = the_catalog();
  const auto u = assist::understand(msg, cat);
  for (auto _ : state) benchmark::DoNotOptimize(assist::retrieve(u, std::nullopt, cat, kNow));
}
BENCHMARK_CAPTURE(BM_Retrieve, kanji_pricing, "ONE PIECEの105巻はいくら？");
BENCHMARK_CAPTURE(BM_Retrieve, english_recommendation, "Recommend something like Naruto");

void BM_NormalizeForMatch(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(core::normalize_for_match("ONE PIECEの105巻はいくら？"));
}
BENCHMARK(BM_NormalizeForMatch);

void BM_FindSeries(benchmark::State& state) {
  auto& cat = the_catalog();
  for (auto _ : state)
    benchmark::DoNotOptimize(cat.find_series("how much is one piece volume 105?"));
}
BENCHMARK(BM_FindSeries);

}  // namespace
