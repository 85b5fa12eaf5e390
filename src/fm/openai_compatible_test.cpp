// The OpenAI-compatible stream parser on its own: events split anywhere, linear work however
// the bytes arrive, and a bound on one event.
#include "fm/openai_compatible.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ma::fm {
namespace {

std::string delta(std::string_view text) {
  return "data: {\"choices\":[{\"delta\":{\"content\":\"" + std::string(text) + "\"}}]}";
}

// A stream of `n` small events, `sep` between them, and [DONE].
std::string stream_of(int n, std::string_view sep) {
  std::string s = ": keep-alive comment" + std::string(sep);
  for (int i = 0; i < n; ++i) s += delta("t" + std::to_string(i) + " ") + std::string(sep);
  s += "data: [DONE]" + std::string(sep);
  return s;
}

std::string expected_text(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "t" + std::to_string(i) + " ";
  return s;
}

TEST(SseParserTest, EveryWayOfSplittingGivesTheSameText) {
  for (std::string_view sep : {"\n\n", "\r\n\r\n", "\n\r\n"}) {
    const std::string s = stream_of(20, sep);
    for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
                              std::size_t{64}, s.size()}) {
      SseParser p;
      std::string chunks;
      const ChunkSink sink = [&](std::string_view t) { chunks += t; };
      for (std::size_t i = 0; i < s.size(); i += piece) {
        if (!p.feed(std::string_view(s).substr(i, piece), sink)) break;
      }
      EXPECT_TRUE(p.done()) << "piece " << piece;
      EXPECT_FALSE(p.error());
      EXPECT_EQ(p.text(), expected_text(20)) << "piece " << piece;
      EXPECT_EQ(chunks, p.text());
    }
  }
}

TEST(SseParserTest, MultiLineDataAndErrorsAreClassified) {
  {
    SseParser p;
    EXPECT_TRUE(p.feed("data: {\"choices\":\ndata: [{\"delta\":{\"content\":\"hi\"}}]}\n\n", {}));
    EXPECT_EQ(p.text(), "hi");
  }
  {
    SseParser p;
    EXPECT_FALSE(p.feed("data: not json\n\n", {}));
    ASSERT_TRUE(p.error());
    EXPECT_EQ(p.error()->code, "MalformedStreamEvent");
  }
  {
    SseParser p;
    EXPECT_FALSE(p.feed(
        "data: {\"error\":{\"code\":\"rate_limit_exceeded\",\"message\":\"slow\"}}\n\n", {}));
    ASSERT_TRUE(p.error());
    EXPECT_EQ(p.error()->code, "rate_limit_exceeded");
    EXPECT_EQ(p.error()->kind, resilience::ErrorClass::kThrottling);
  }
}

TEST(SseParserTest, ByteByByteIsLinear) {
  // 2 MiB of small events, one byte at a time. Rescanning the pending buffer on every read
  // (the old parser) looks at each byte of an event again for every byte after it; the
  // parser looks at each byte once.
  std::string s;
  int n = 0;
  while (s.size() < 2 * 1024 * 1024) {
    s += delta("x") + "\n\n";
    ++n;
  }
  s += "data: [DONE]\n\n";
  SseParser p;
  std::size_t taken = 0;
  for (; taken < s.size(); ++taken) {
    if (!p.feed(std::string_view(s).substr(taken, 1), {})) break;
  }
  EXPECT_TRUE(p.done());
  EXPECT_EQ(taken + 1, s.size());  // stopped at the last byte of [DONE]'s event
  EXPECT_EQ(p.text(), std::string(static_cast<std::size_t>(n), 'x'));
  EXPECT_EQ(p.scanned_bytes(), s.size());
}

TEST(SseParserTest, OneLargeEventInOneReadIsStillLinear) {
  // A single 4 MiB event (under a larger bound), in 1 KiB reads.
  const std::string big = "data: {\"choices\":[{\"delta\":{\"content\":\"" +
                          std::string(4 * 1024 * 1024, 'a') + "\"}}]}\n\ndata: [DONE]\n\n";
  SseParser p(8 * 1024 * 1024);
  for (std::size_t i = 0; i < big.size(); i += 1024) {
    if (!p.feed(std::string_view(big).substr(i, 1024), {})) break;
  }
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.text().size(), 4u * 1024 * 1024);
  EXPECT_LE(p.scanned_bytes(), big.size());
}

TEST(SseParserTest, AnEventOverTheBoundIsAClassifiedError) {
  // 48 MiB would come in one event; 16-byte reads. The parser gives up just past 1 MiB and
  // holds nothing after.
  SseParser p;
  ASSERT_TRUE(p.feed("data: {\"choices\":[{\"delta\":{\"content\":\"", {}));
  const std::string piece(16, 'a');
  std::size_t fed = 0;
  bool more = true;
  while (more && fed < 48u * 1024 * 1024) {
    more = p.feed(piece, {});
    fed += piece.size();
    EXPECT_LE(p.buffered_bytes(), SseParser::kMaxEventBytes + piece.size());
  }
  EXPECT_FALSE(more);
  EXPECT_LE(fed, SseParser::kMaxEventBytes + piece.size());
  ASSERT_TRUE(p.error());
  EXPECT_EQ(p.error()->code, "StreamEventTooLarge");
  EXPECT_EQ(p.error()->kind, resilience::ErrorClass::kUnknown);
  EXPECT_EQ(p.buffered_bytes(), 0u);
  EXPECT_FALSE(p.feed("\n\n", {}));  // and it stays failed
}

TEST(SseParserTest, AnEventOverTheBoundInOneReadIsAnErrorToo) {
  SseParser p(1024);
  const std::string event = "data: " + std::string(2000, 'a') + "\n\n";
  EXPECT_FALSE(p.feed(event, {}));
  ASSERT_TRUE(p.error());
  EXPECT_EQ(p.error()->code, "StreamEventTooLarge");
  // Many events, each under the bound, in one read are fine.
  SseParser q(1024);
  EXPECT_TRUE(
      q.feed(stream_of(0, "\n\n").substr(0, 22) + delta("a") + "\n\n" + delta("b") + "\n\n", {}));
  EXPECT_EQ(q.text(), "ab");
}

// stream_options.include_usage: OpenAI sends "usage": null on every chunk and the counts on
// a last one without choices; some servers send counts on every chunk (the last wins).
TEST(SseParserTest, UsageIsReadFromTheChunkThatCarriesIt) {
  SseParser p;
  EXPECT_TRUE(
      p.feed("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n", {}));
  EXPECT_FALSE(p.has_usage());
  EXPECT_TRUE(
      p.feed("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
             "\"completion_tokens\":3,\"total_tokens\":15}}\n\n",
             {}));
  ASSERT_TRUE(p.has_usage());
  EXPECT_EQ(p.input_tokens(), 12);
  EXPECT_EQ(p.output_tokens(), 3);
  EXPECT_FALSE(p.feed("data: [DONE]\n\n", {}));
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.text(), "hi");
}

}  // namespace
}  // namespace ma::fm
