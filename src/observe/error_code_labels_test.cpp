#include "observe/error_code_labels.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "core/random.hpp"
#include "observe/metrics.hpp"

namespace ma::observe {
namespace {

std::string random_code(core::Random& rng) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_";
  std::string s = "E_";
  for (int i = 0; i < 12; ++i) s += kChars[rng.below(sizeof kChars - 1)];
  return s;
}

TEST(ErrorCodeLabelsTest, KnownCodesKeepTheirNames) {
  ErrorCodeLabels labels(0);  // no room for unknown codes at all
  for (const char* code :
       {"ThrottlingException", "ServiceUnavailableException", "ModelTimeoutException",
        "InternalServerException", "ValidationException", "AccessDeniedException",
        "ModelErrorException", "DeadlineExceeded", "ConnectionError", "timeout", "deadline",
        "StreamTruncated", "StreamEventTooLarge", "breaker_open", "HTTP429", "HTTP503"}) {
    EXPECT_TRUE(is_known_error_code(code)) << code;
    EXPECT_EQ(labels.label(code), code);
  }
  EXPECT_EQ(labels.label("TOKENIZER_FAULT"), "other");
  EXPECT_EQ(labels.label(""), "other");
  EXPECT_EQ(labels.novel_count(), 0u);
}

TEST(ErrorCodeLabelsTest, FiftyRandomCodesMakeAtMostNinePlusOtherLabels) {
  ErrorCodeLabels labels;  // 8 unknown codes by name
  core::Random rng(42);
  std::set<std::string> distinct;
  for (int i = 0; i < 50; ++i) distinct.insert(labels.label(random_code(rng)));
  EXPECT_EQ(distinct.size(), ErrorCodeLabels::kDefaultMaxNovel + 1);
  EXPECT_TRUE(distinct.contains("other"));
  EXPECT_EQ(labels.novel_count(), ErrorCodeLabels::kDefaultMaxNovel);
  // Known codes are still named once the room is taken.
  EXPECT_EQ(labels.label("ThrottlingException"), "ThrottlingException");
}

TEST(ErrorCodeLabelsTest, UnsafeCodesAreOtherAndPrintedSafely) {
  ErrorCodeLabels labels;
  EXPECT_EQ(labels.label("bad\"code"), "other");
  EXPECT_EQ(labels.label("new\nline"), "other");
  EXPECT_EQ(labels.label(std::string(65, 'A')), "other");
  EXPECT_EQ(labels.label("漢字"), "other");
  EXPECT_EQ(labels.label("other"), "other");
  EXPECT_EQ(labels.novel_count(), 0u);
  EXPECT_EQ(printable_code("a\"b\nc"), "a?b?c");
  EXPECT_EQ(printable_code(std::string(100, 'x')).size(), 64u);
}

TEST(ErrorCodeLabelsTest, ConcurrentCallersNeverExceedTheBound) {
  ErrorCodeLabels labels(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&labels, t] {
      core::Random rng(static_cast<std::uint64_t>(t) + 1);
      for (int i = 0; i < 200; ++i) (void)labels.label(random_code(rng));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(labels.novel_count(), 4u);
}

TEST(MetricsFamilyTest, SeriesPastTheCapShareOneOverflowSeries) {
  MetricsRegistry registry;
  auto& family = registry.counter("test_errors_total", "Errors.", {"model", "error_code"});
  family.set_max_series(10);
  for (int i = 0; i < 50; ++i) family.with({"sonnet", "code" + std::to_string(i)}).inc();
  EXPECT_EQ(family.series_count(), 11u);  // ten, and the overflow
  EXPECT_EQ(family.with({"other", "other"}).value(), 40u);
  EXPECT_EQ(family.with({"sonnet", "code3"}).value(), 1u);  // an existing series still counts
  const std::string text = registry.render();
  EXPECT_NE(text.find("test_errors_total{model=\"other\",error_code=\"other\"} 40"),
            std::string::npos)
      << text;
  EXPECT_EQ(Family<Counter>::kDefaultMaxSeries, registry.gauge("g", "G.").max_series());
}

}  // namespace
}  // namespace ma::observe
