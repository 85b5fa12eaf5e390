#include "resilience/retry_quota.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

TEST(RetryQuotaTest, LegacyCheckerCases) {
  {  // acquire non-timeout error: cost 5; timeout: cost 10
    RetryQuota q;
    EXPECT_EQ(q.acquire(ErrorClass::kTransient), 5);
    EXPECT_EQ(q.acquire(ErrorClass::kTimeout), 10);
  }
  {  // acquire then release on 200
    RetryQuota q;
    auto c = q.acquire(ErrorClass::kTransient);
    ASSERT_TRUE(c);
    EXPECT_EQ(q.available(), 495);
    q.on_success(*c);
    EXPECT_EQ(q.available(), 500);
  }
  {  // acquire then all retries failed: nothing released
    RetryQuota q;
    (void)q.acquire(ErrorClass::kTransient);
    EXPECT_EQ(q.available(), 495);
  }
  {  // success without retry: +1
    RetryQuota q;
    (void)q.acquire(ErrorClass::kTransient);
    q.on_success(0);
    EXPECT_EQ(q.available(), 496);
  }
  {  // initial capacity 5: first acquire ok, second fails
    RetryQuota q({}, 5);
    EXPECT_TRUE(q.acquire(ErrorClass::kTransient).has_value());
    EXPECT_FALSE(q.acquire(ErrorClass::kTransient).has_value());
  }
  {  // initial capacity 0
    RetryQuota q({}, 0);
    EXPECT_FALSE(q.acquire(ErrorClass::kTransient).has_value());
  }
  {  // quota 450 after acquire(50); a failed request releases nothing
    RetryQuota q;
    ASSERT_TRUE(q.acquire_raw(50));
    EXPECT_EQ(q.available(), 450);
  }
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
