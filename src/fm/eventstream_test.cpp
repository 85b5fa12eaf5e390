#include "fm/eventstream.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "core/json_util.hpp"

namespace ma::fm {
namespace {

namespace fs = std::filesystem;
const std::string kDir = std::string(MA_TEST_DATA_DIR) + "/eventstream";

std::string read(const std::string& path) {
  auto r = core::read_file(path);
  EXPECT_TRUE(r.ok()) << path;
  return r.ok() ? *r : std::string();
}

std::string base64_decode(std::string_view in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const auto p = kAlphabet.find(c);
    if (p == std::string::npos) break;
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

TEST(EventStreamTest, DecodesEveryPositiveVector) {
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(kDir + "/encoded/positive")) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    const auto want = boost::json::parse(read(kDir + "/decoded/positive/" + name));
    EventStreamDecoder d;
    std::vector<EventMessage> msgs;
    ASSERT_TRUE(d.feed(read(entry.path().string()), msgs).ok());
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_TRUE(d.idle());
    EXPECT_EQ(msgs[0].payload, base64_decode(want.at("payload").as_string()));
    const auto& headers = want.at("headers").as_array();
    ASSERT_EQ(msgs[0].headers.size(), headers.size());
    for (std::size_t i = 0; i < headers.size(); ++i) {
      const auto& h = headers[i];
      const auto& got = msgs[0].headers[i];
      EXPECT_EQ(got.name, h.at("name").as_string());
      EXPECT_EQ(static_cast<int>(got.type), h.at("type").as_int64());
      const auto& v = h.at("value");
      if (v.is_string()) {
        EXPECT_EQ(got.bytes, base64_decode(v.as_string())) << got.name;
      } else if (v.is_bool()) {
        EXPECT_EQ(got.number, v.as_bool() ? 1 : 0);
      } else {
        EXPECT_EQ(got.number, v.to_number<std::int64_t>()) << got.name;
      }
    }
    ++cases;
  }
  EXPECT_EQ(cases, 5);
}

TEST(EventStreamTest, RefusesEveryNegativeVectorWithItsReason) {
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(kDir + "/encoded/negative")) {
    const std::string name = entry.path().filename().string();
    const std::string reason = read(kDir + "/decoded/negative/" + name);
    EventStreamDecoder d;
    std::vector<EventMessage> msgs;
    const auto st = d.feed(read(entry.path().string()), msgs);
    ASSERT_FALSE(st.ok()) << name;
    EXPECT_EQ(st.error().message, reason) << name;
    EXPECT_TRUE(msgs.empty());
    ++cases;
  }
  EXPECT_EQ(cases, 4);
}

TEST(EventStreamTest, ConverseStreamArrivingByteByByte) {
  const std::string body = read(kDir + "/synthetic/converse_stream_ok.bin");
  EventStreamDecoder d;
  std::vector<EventMessage> msgs;
  for (char c : body) ASSERT_TRUE(d.feed(std::string_view(&c, 1), msgs).ok());
  EXPECT_TRUE(d.idle());
  ASSERT_EQ(msgs.size(), 6u);
  std::vector<std::string> types;
  std::string text;
  for (const auto& m : msgs) {
    types.emplace_back(m.header(":event-type"));
    if (m.header(":event-type") == "contentBlockDelta") {
      text += boost::json::parse(m.payload).at("delta").at("text").as_string();
    }
  }
  EXPECT_EQ(types,
            (std::vector<std::string>{"messageStart", "contentBlockDelta", "contentBlockDelta",
                                      "contentBlockStop", "messageStop", "metadata"}));
  EXPECT_EQ(text, "Hello, world");
}

TEST(EventStreamTest, ExceptionFramesAndUnmodeledErrors) {
  EventStreamDecoder d;
  std::vector<EventMessage> msgs;
  ASSERT_TRUE(
      d.feed(read(kDir + "/synthetic/converse_stream_then_throttling_exception.bin"), msgs).ok());
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[2].header(":message-type"), "exception");
  EXPECT_EQ(msgs[2].header(":exception-type"), "throttlingException");

  EventStreamDecoder e;
  std::vector<EventMessage> err;
  ASSERT_TRUE(e.feed(read(kDir + "/synthetic/unmodeled_error_frame.bin"), err).ok());
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].header(":message-type"), "error");
  EXPECT_EQ(err[0].header(":error-code"), "InternalFailure");
}

TEST(EventStreamTest, TruncatedStreamIsVisibleAtTheEnd) {
  EventStreamDecoder d;
  std::vector<EventMessage> msgs;
  ASSERT_TRUE(d.feed(read(kDir + "/synthetic/converse_stream_truncated.bin"), msgs).ok());
  EXPECT_EQ(msgs.size(), 2u);
  EXPECT_FALSE(d.idle());
  EXPECT_EQ(d.buffered(), 10u);
}

TEST(EventStreamTest, GarbageNeverReadsPastTheBuffer) {
  EventStreamDecoder d;
  std::vector<EventMessage> msgs;
  EXPECT_FALSE(d.feed(std::string(64, '\xff'), msgs).ok());
  EXPECT_FALSE(d.feed("more", msgs).ok());  // stays failed
}

}  // namespace
}  // namespace ma::fm
