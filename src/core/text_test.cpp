#include "core/text.hpp"

#include <gtest/gtest.h>

#include <climits>

namespace ma::core {
namespace {

TEST(TextTest, StrCatJoinsStringsViewsLiteralsAndNumbers) {
  const std::string title = "鬼滅の刃";
  const std::string_view unit = "巻";
  EXPECT_EQ(str_cat(title, " ", Dec(23), unit), "鬼滅の刃 23巻");
  EXPECT_EQ(str_cat(), "");
  EXPECT_EQ(str_cat(Dec(0), Dec(-7), Dec(LLONG_MIN)), "0-7-9223372036854775808");
}

TEST(TextTest, StrAppendKeepsWhatIsThereAndGrowsGeometrically) {
  std::string out = "a";
  for (int i = 0; i < 100; ++i) str_append(out, ",", Dec(i));
  EXPECT_EQ(out.substr(0, 8), "a,0,1,2,");
  EXPECT_EQ(out.substr(out.size() - 6), ",98,99");
  EXPECT_EQ(out.size(), 1 + 10 * 2 + 90 * 3);
}

std::string utf8(char32_t cp) {
  std::string s;
  utf8_append(s, cp);
  return s;
}

TEST(TextTest, NfkcCasefoldShortcutAgreesWithUtf8procOnEveryBmpCodePoint) {
  // Each code point alone, after a capital, and before a combining voiced mark (U+3099: a
  // kana it can compose with must not take the shortcut).
  int checked = 0;
  for (char32_t cp = 1; cp < 0x10000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    for (const std::string& text :
         {utf8(cp), "A" + utf8(cp) + "Z", utf8(cp) + utf8(0x3099), "x" + utf8(cp) + "あ"}) {
      ASSERT_EQ(nfkc_casefold(text), nfkc_casefold_full(text))
          << "U+" << std::hex << static_cast<unsigned>(cp);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 0x10000 - 1 - 0x800);
  EXPECT_EQ(nfkc_casefold("ＯＮＥ　ＰＩＥＣＥの１０５巻"), "one pieceの105巻");
  EXPECT_EQ(nfkc_casefold("ｶﾞ"), "ガ");
  EXPECT_EQ(nfkc_casefold("\xff"), "");  // invalid UTF-8
}

TEST(TextTest, NormalizeForMatchTurnsPunctuationIntoSingleSpaces) {
  EXPECT_EQ(normalize_for_match("Spy x Family!!"), "spy x family");
  EXPECT_EQ(normalize_for_match("「鬼滅の刃」の２３巻は？"), "鬼滅の刃 の23巻は");
  EXPECT_EQ(normalize_for_match("  ...  "), "");
  EXPECT_EQ(normalize_for_match("ソードアート・オンライン"), "ソードアート オンライン");
  EXPECT_EQ(normalize_for_match("々ー—x×y"), "々ー x y");
  EXPECT_EQ(normalize_for_match("café—crème 🍜"), "café crème 🍜");
}

}  // namespace
}  // namespace ma::core
