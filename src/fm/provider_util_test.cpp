#include "fm/provider_util.hpp"

#include <gtest/gtest.h>

#include "resilience/error_class.hpp"

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

// retry-after-ms (OpenAI-compatible servers): milliseconds, fractions allowed, at most two
// minutes; anything else is no hint and Retry-After is read instead.
TEST(RetryAfterTest, RetryAfterMsEdgeCases) {
  EXPECT_EQ(retry_after({{"retry-after-ms", "120000"}}), core::Duration(120s));  // the cap
  EXPECT_EQ(retry_after({{"retry-after-ms", "62.5"}}), core::Duration(62500us));
  for (const char* bad : {"invalid", "-250", "0", "", "120001", "250ms", "1e9", "nan"}) {
    EXPECT_FALSE(retry_after({{"retry-after-ms", bad}}).has_value()) << bad;
  }
  // A bad or over-the-cap retry-after-ms falls through to Retry-After...
  EXPECT_EQ(retry_after({{"retry-after-ms", "-1"}, {"retry-after", "4"}}), core::Duration(4s));
  EXPECT_EQ(retry_after({{"retry-after-ms", "999999"}, {"retry-after", "4"}}), core::Duration(4s));
  // ...and a good one wins over it.
  EXPECT_EQ(retry_after({{"retry-after-ms", "300"}, {"retry-after", "4"}}), core::Duration(300ms));
  // x-amz-retry-after is read first of all three.
  EXPECT_EQ(retry_after({{"x-amz-retry-after", "700"}, {"retry-after-ms", "300"}}),
            core::Duration(700ms));
}

// Retry-After (RFC 9110): delay-seconds, at most two minutes. An HTTP-date is not read (no
// hint, the backoff decides), nor is a negative, zero, invalid or over-the-cap value.
TEST(RetryAfterTest, RetryAfterSecondsEdgeCases) {
  EXPECT_EQ(retry_after({{"retry-after", "120"}}), core::Duration(120s));  // the cap itself
  EXPECT_EQ(retry_after({{"retry-after", "0.5"}}), core::Duration(500ms));
  for (const char* bad : {"invalid", "-3", "0", "", "120.5", "121", "86400", "2s", "inf", "nan",
                          "Wed, 21 Oct 2015 07:28:00 GMT"}) {
    EXPECT_FALSE(retry_after({{"retry-after", bad}}).has_value()) << bad;
  }
  // Every header present and bad: no hint at all.
  EXPECT_FALSE(
      retry_after(
          {{"x-amz-retry-after", "-1"}, {"retry-after-ms", "invalid"}, {"retry-after", "-1"}})
          .has_value());
  EXPECT_FALSE(retry_after({}).has_value());
}

TEST(TransportErrorTest, TheBudgetsAndCancellationHaveTheirOwnCodes) {
  struct Case {
    const char* http;
    resilience::ErrorClass kind;
    const char* code;
  };
  for (const Case& c :
       {Case{"timeout", resilience::ErrorClass::kTimeout, "DeadlineExceeded"},
        Case{"first_byte_timeout", resilience::ErrorClass::kTimeout, "FirstTokenTimeout"},
        Case{"stream_stalled", resilience::ErrorClass::kTimeout, "StreamStalled"},
        Case{"cancelled", resilience::ErrorClass::kTransient, "Cancelled"},
        Case{"connection_reset", resilience::ErrorClass::kTransient, "ConnectionError"}}) {
    const ModelError e = transport_error(HttpError{c.http, "m"});
    EXPECT_EQ(e.kind, c.kind) << c.http;
    EXPECT_EQ(e.code, c.code) << c.http;
    EXPECT_EQ(e.raw_code, c.http);
    // The error classifier agrees (the retry policy reads the code); "Cancelled" is no wire
    // code, the pipeline knows it cancelled.
    if (e.code != "Cancelled") {
      EXPECT_EQ(resilience::classify(0, e.code), c.kind) << c.http;
    }
  }
}

TEST(EstimateTokensTest, AboutFourAsciiBytesOrOneCjkCharacterAToken) {
  EXPECT_EQ(estimate_tokens(""), 0);
  EXPECT_EQ(estimate_tokens("a"), 1);
  EXPECT_EQ(estimate_tokens("abcdefgh"), 2);
  EXPECT_EQ(estimate_tokens("528円です。"), 1 + 4);  // "528" and four CJK code points
}

}  // namespace
}  // namespace ma::fm
