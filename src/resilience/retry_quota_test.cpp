#include "resilience/retry_quota.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

bool has(std::string_view name, std::string_view word) {
  return name.find(word) != std::string_view::npos;
}

// botocore's RetryQuotaChecker cases (test_standard.py, test_standard_retry_v2_1.py): the case
// names say what happens (which error, then a 200, a 500 or nothing); the numbers are what the
// quota must read. Every case must be one of the shapes below.
void run_checker_cases(const boost::json::value& table, RetryQuotaSpec spec, int& ran) {
  ran = 0;
  for (const auto& c : table.at("cases").as_array()) {
    const auto& o = c.as_object();
    const std::string name(o.at("name").as_string());
    SCOPED_TRACE(name);
    const ErrorClass error = has(name, "throttling") ? ErrorClass::kThrottling
                             : has(name, "timeout") && !has(name, "non-timeout")
                                 ? ErrorClass::kTimeout
                                 : ErrorClass::kTransient;
    if (const auto* cost = o.if_contains("acquire_cost_recorded")) {
      RetryQuota q(spec);
      EXPECT_EQ(q.acquire(error), cost->as_int64());
      EXPECT_EQ(q.available(), spec.capacity - cost->as_int64());
    } else if (const auto* after_acquire = o.if_contains("after_acquire")) {
      RetryQuota q(spec);
      const auto cost = q.acquire(error);
      ASSERT_TRUE(cost.has_value());
      EXPECT_EQ(q.available(), after_acquire->as_int64());
      if (has(name, "without retry")) {
        q.on_success(0);  // a request that needed no retry
      } else if (has(name, "on 200")) {
        q.on_success(*cost);  // the retry succeeded
      } else {
        ASSERT_TRUE(has(name, "500")) << "unknown case shape";  // the retries failed
      }
      EXPECT_EQ(q.available(), o.at("after_release").as_int64());
    } else if (has(name, "initial capacity")) {
      const int initial = std::stoi(name.substr(name.find("initial capacity") + 17));
      RetryQuota q(spec, initial);
      std::vector<bool> got;
      const auto* want = o.if_contains("acquire_results");
      // No results listed (capacity 0): the first acquire fails.
      const std::size_t n = want ? want->as_array().size() : 1;
      for (std::size_t i = 0; i < n; ++i) got.push_back(q.acquire(error).has_value());
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(got[i], want ? want->as_array()[i].as_bool() : false) << "acquire " << i;
      }
    } else if (const auto* after = o.if_contains("after")) {
      // "quota 450 (after acquire(50))": a failed request (400) releases nothing.
      RetryQuota q(spec);
      ASSERT_TRUE(q.acquire_raw(spec.capacity - static_cast<int>(after->as_int64())));
      EXPECT_EQ(q.available(), after->as_int64());
    } else {
      ADD_FAILURE() << "unknown case shape";
      continue;
    }
    ++ran;
  }
}

TEST(RetryQuotaTest, PassesBotocoreLegacyCheckerVectors) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  int ran = 0;
  run_checker_cases(v.at("retry_quota_checker_legacy"), RetryQuotaSpec{}, ran);
  EXPECT_EQ(ran, 8);
}

// The 2026 standard mode: 5 after throttling, 14 after any other error, timeouts included.
TEST(RetryQuotaTest, PassesBotocore2026CheckerVectors) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  const RetryQuotaSpec spec{.capacity = 500,
                            .retry_cost = 14,
                            .timeout_retry_cost = 14,
                            .no_retry_increment = 1,
                            .throttling_retry_cost = 5};
  int ran = 0;
  run_checker_cases(v.at("retry_quota_checker_new_2026"), spec, ran);
  EXPECT_EQ(ran, 8);
}

TEST(RetryQuotaTest, RawQuotaVectors) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  for (const auto& c : v.at("retry_quota_raw").at("cases").as_array()) {
    RetryQuota q(RetryQuotaSpec{.capacity = 50});
    std::vector<bool> results;
    for (const auto& op : c.at("ops").as_array()) {
      const auto& name = op.as_array()[0].as_string();
      const int n = static_cast<int>(op.as_array()[1].as_int64());
      if (name == "acquire") {
        results.push_back(q.acquire_raw(n));
      } else {
        q.release_raw(n);
      }
    }
    EXPECT_EQ(q.available(), c.at("available_after").as_int64()) << boost::json::serialize(c);
    if (const auto* want = c.as_object().if_contains("results")) {
      ASSERT_EQ(want->as_array().size(), results.size());
      for (std::size_t i = 0; i < results.size(); ++i) {
        EXPECT_EQ(want->as_array()[i].as_bool(), results[i]);
      }
    }
  }
}

TEST(RetryQuotaTest, NeverExceedsCapacity) {
  RetryQuota q;
  for (int i = 0; i < 10; ++i) q.on_success(0);
  EXPECT_EQ(q.available(), 500);
}

}  // namespace
}  // namespace ma::resilience
