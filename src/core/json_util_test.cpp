#include "core/json_util.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

namespace ma::core {
namespace {

// Every position of every character that must be escaped, in strings long enough for the
// 8-byte scan and short enough for the byte-by-byte tail: the result parses back to the
// original text.
TEST(JsonUtilTest, AppendJsonStringEscapesWhatJsonRequiresAtEveryPosition) {
  const std::string specials[] = {"\"",   "\\",  "\n", "\r", "\t", std::string(1, '\0'),
                                  "\x1f", "\x01"};
  for (const auto& special : specials) {
    for (std::size_t len = 1; len <= 24; ++len) {
      for (std::size_t at = 0; at < len; ++at) {
        std::string text(len, 'a');
        text.replace(at, 1, special);
        std::string out;
        append_json_string(out, text);
        const auto parsed = boost::json::parse(out);
        ASSERT_TRUE(parsed.is_string()) << out;
        EXPECT_EQ(std::string(parsed.as_string()), text) << "length " << len << " at " << at;
      }
    }
  }
}

TEST(JsonUtilTest, AppendJsonStringKeepsUtf8AndPlainTextAsTheyAre) {
  std::string out;
  append_json_string(out, "ONE PIECEの105巻はいくら？ ¥528 (tax included) ~ DEL\x7f");
  EXPECT_EQ(out, "\"ONE PIECEの105巻はいくら？ ¥528 (tax included) ~ DEL\x7f\"");
  out.clear();
  append_json_string(out, "");
  EXPECT_EQ(out, "\"\"");
  out.clear();
  append_json_string(out, "a\x01 and \x1b[31m");
  EXPECT_EQ(out, "\"a\\u0001 and \\u001b[31m\"");
}

}  // namespace
}  // namespace ma::core
