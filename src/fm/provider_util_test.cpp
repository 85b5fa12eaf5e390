#include "fm/provider_util.hpp"

#include <gtest/gtest.h>

namespace ma::fm {
namespace {

using namespace std::chrono_literals;

TEST(RetryAfterTest, ReadsAwsMillisecondsFirstThenTheOthers) {
  EXPECT_EQ(retry_after({{"x-amz-retry-after", "1500"}}), core::Duration(1500ms));
  EXPECT_EQ(retry_after({{"x-amz-retry-after", "1500"}, {"retry-after", "9"}}),
            core::Duration(1500ms));
  EXPECT_EQ(retry_after({{"retry-after-ms", "250"}}), core::Duration(250ms));
  EXPECT_EQ(retry_after({{"retry-after", "2"}}), core::Duration(2s));
}

// botocore's x_amz_retry_after rows (tests/data/botocore_standard_backoff_quota.json): a value
// that is not a positive whole number of milliseconds is no hint; the next header counts.
TEST(RetryAfterTest, AnInvalidNegativeOrHugeHintIsNoHint) {
  for (const char* bad : {"invalid", "-100", "0", "1.5", "", "999999999"}) {
    EXPECT_FALSE(retry_after({{"x-amz-retry-after", bad}}).has_value()) << bad;
  }
  EXPECT_EQ(retry_after({{"x-amz-retry-after", "invalid"}, {"retry-after", "3"}}),
            core::Duration(3s));
  EXPECT_FALSE(retry_after({{"retry-after", "121"}}).has_value());
}

}  // namespace
}  // namespace ma::fm
