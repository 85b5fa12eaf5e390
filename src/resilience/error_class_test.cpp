#include "resilience/error_class.hpp"

#include <gtest/gtest.h>

#include "resilience/test_vectors.hpp"

namespace ma::resilience {
namespace {

int status_of(const boost::json::value& v) {
  return v.is_null() ? 0 : static_cast<int>(v.as_int64());
}
std::string_view code_of(const boost::json::value& v) {
  return v.is_null() ? std::string_view() : std::string_view(v.as_string());
}

TEST(ErrorClassTest, BotocoreThrottlingCodes) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  int rows = 0;
  for (const auto& row : v.at("throttling_error_codes").at("rows").as_array()) {
    const auto& r = row.as_array();
    const bool want = r[2].as_bool();
    EXPECT_EQ(classify(status_of(r[0]), code_of(r[1])) == ErrorClass::kThrottling, want)
        << boost::json::value(r[1]).is_null() << " " << code_of(r[1]) << " " << status_of(r[0]);
    ++rows;
  }
  EXPECT_EQ(rows, 19);
}

TEST(ErrorClassTest, BotocoreTransientErrors) {
  const auto v = testing::load_json("botocore_standard_backoff_quota.json");
  int rows = 0;
  for (const auto& row : v.at("transient_errors").at("rows").as_array()) {
    const auto& r = row.as_array();
    const bool want = r[2].as_bool();
    const int status = status_of(r[0]);
    const std::string_view code = code_of(r[1]);
    if (status == 200 && code.empty()) {
      // A 200 is not an error at all; the classifier is only asked about failures.
      EXPECT_FALSE(want);
      ++rows;
      continue;
    }
    const ErrorClass c = classify(status, code);
    // PriorRequestNotComplete is on both botocore lists; it classifies as throttling,
    // which is retried the same way.
    const bool transient_like = c == ErrorClass::kTransient ||
                                (code == "PriorRequestNotComplete" && c == ErrorClass::kThrottling);
    EXPECT_EQ(transient_like, want) << status << " " << code;
    ++rows;
  }
  EXPECT_EQ(rows, 14);
}

TEST(ErrorClassTest, BedrockErrorsByHeaderAndBody) {
  auto e = parse_error(429, "ThrottlingException:http://internal.amazon.com/coral/", "");
  EXPECT_EQ(e.kind, ErrorClass::kThrottling);
  EXPECT_EQ(e.code, "ThrottlingException");
  EXPECT_EQ(e.raw_code, "ThrottlingException:http://internal.amazon.com/coral/");

  e = parse_error(
      503, "", R"({"__type":"com.amazon.bedrock#ServiceUnavailableException","message":"busy"})");
  EXPECT_EQ(e.kind, ErrorClass::kTransient);
  EXPECT_EQ(e.code, "ServiceUnavailableException");
  EXPECT_EQ(e.message, "busy");

  e = parse_error(408, "ModelTimeoutException", R"({"message":"took too long"})");
  EXPECT_EQ(e.kind, ErrorClass::kTimeout);

  e = parse_error(400, "", R"({"__type":"ValidationException","message":"bad"})");
  EXPECT_EQ(e.kind, ErrorClass::kClient);
}

TEST(ErrorClassTest, OpenAiStyleErrors) {
  auto e = parse_error(
      429, "",
      R"({"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}})");
  EXPECT_EQ(e.kind, ErrorClass::kThrottling);
  EXPECT_EQ(e.message, "slow down");
  e = parse_error(400, "", R"({"error":{"message":"bad","type":"invalid_request_error"}})");
  EXPECT_EQ(e.kind, ErrorClass::kClient);
}

// Seed scenario 4: an error format nobody had seen. Never throws, never "client".
TEST(ErrorClassTest, UnknownFormatsAreUnknownAndKeepTheirRawCode) {
  auto e = parse_error(400, "", R"({"errorDetail":{"kind":"TOKENIZER_FAULT","info":"漢字"}})");
  EXPECT_EQ(e.kind, ErrorClass::kUnknown);
  EXPECT_FALSE(e.recognised_format);

  e = parse_error(424, "", R"({"code":"ModelStreamErrorV2","message":"stream broke"})");
  EXPECT_EQ(e.kind, ErrorClass::kClient);  // a well-formed 4xx with a code is a client error
  EXPECT_EQ(e.raw_code, "ModelStreamErrorV2");

  e = parse_error(200, "",
                  R"({"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"}})");
  EXPECT_EQ(e.kind, ErrorClass::kUnknown);

  for (std::string_view body : {"", "not json", "{\"code\":", "[1,2,3]", "\x01\x02\xff\xfe",
                                "{\"__type\":12}", "{\"error\":null}", "null"}) {
    const auto p = parse_error(418, "", body);
    EXPECT_EQ(p.kind, ErrorClass::kUnknown) << body;
    for (char c : p.message) EXPECT_GE(static_cast<unsigned char>(c), 0x20);
  }
  // Status alone is conclusive for 429 and 5xx even when the body is garbage.
  EXPECT_EQ(parse_error(429, "", "<html>").kind, ErrorClass::kThrottling);
  EXPECT_EQ(parse_error(502, "", "<html>").kind, ErrorClass::kTransient);
}

TEST(ErrorClassTest, LongMessagesAreTruncatedOnACharacterBoundary) {
  std::string body = R"({"message":")";
  for (int i = 0; i < 200; ++i) body += "漢";
  body += R"("})";
  const auto e = parse_error(500, "", body);
  EXPECT_LE(e.message.size(), 256u);
  EXPECT_EQ(e.message.size() % 3, 0u);
}

TEST(ErrorClassTest, OnlyThrottlingTransientAndTimeoutAreRetryable) {
  EXPECT_TRUE(is_retryable(ErrorClass::kThrottling));
  EXPECT_TRUE(is_retryable(ErrorClass::kTransient));
  EXPECT_TRUE(is_retryable(ErrorClass::kTimeout));
  EXPECT_FALSE(is_retryable(ErrorClass::kClient));
  EXPECT_FALSE(is_retryable(ErrorClass::kUnknown));
}

}  // namespace
}  // namespace ma::resilience

namespace ma::resilience {
namespace {

TEST(ErrorClassSanitiseTest, AMessageKeepsItsLastCharacterAndLosesOnlyACutSequence) {
  auto e = parse_error(400, "", R"({"__type":"ValidationException","message":"在庫切れです"})");
  EXPECT_EQ(e.message, "在庫切れです");
  // Cut at the 256-byte bound in the middle of a character: that character goes, no more.
  std::string msg;
  for (int i = 0; i < 90; ++i) msg += "品";  // 270 bytes
  e = parse_error(400, "", R"({"__type":"ValidationException","message":")" + msg + "\"}");
  EXPECT_EQ(e.message, msg.substr(0, 255));  // 85 whole characters
}

}  // namespace
}  // namespace ma::resilience
