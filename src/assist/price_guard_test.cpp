#include "assist/price_guard.hpp"

#include <gtest/gtest.h>

#include "assist/catalog_fixture.hpp"
#include "assist/retrieval.hpp"
#include "assist/understanding.hpp"

namespace ma::assist {
namespace {

TEST(PriceGuardTest, ExtractsYenInEveryWrittenForm) {
  EXPECT_EQ(extract_yen("ONE PIECE 105巻は528円（税込）です。"), (std::vector<int>{528}));
  EXPECT_EQ(extract_yen("It is ¥1,234 today, usually ￥1500."), (std::vector<int>{1234, 1500}));
  EXPECT_EQ(extract_yen("JPY 528 or 600 yen"), (std::vector<int>{528, 600}));
  EXPECT_EQ(extract_yen("volume 105, 20% off, order #12345, 3 left"), std::vector<int>{});
  EXPECT_EQ(extract_yen("¥"), std::vector<int>{});
}

TEST(PriceGuardTest, ReadsBackEveryPriceRetrievalWrites) {
  EXPECT_EQ(format_yen(1320, fm::Language::kJa), "1,320円");
  EXPECT_EQ(format_yen(1320, fm::Language::kEn), "¥1,320");
  EXPECT_EQ(format_yen(0, fm::Language::kEn), "¥0");
  EXPECT_EQ(format_yen(999, fm::Language::kJa), "999円");
  EXPECT_EQ(format_yen(-1500, fm::Language::kEn), "¥-1,500");
  for (int yen : {1, 12, 123, 1234, 12345, 123456, 1000000}) {
    for (auto lang : {fm::Language::kJa, fm::Language::kEn}) {
      EXPECT_EQ(extract_yen("only " + format_yen(yen, lang) + " today"), std::vector<int>{yen});
    }
  }
}

using V = std::vector<int>;

// The bytes a mention covers in the original text.
std::vector<std::string> mentioned(std::string_view text) {
  std::vector<std::string> out;
  for (const YenMention& m : find_yen(text)) {
    EXPECT_LE(m.begin, m.end);
    EXPECT_LE(m.end, text.size());
    out.emplace_back(text.substr(m.begin, m.end - m.begin));
  }
  return out;
}

TEST(PriceGuardTest, ReadsFullWidthDigitsSeparatorsAndSigns) {
  EXPECT_EQ(extract_yen("今なら５００円です"), V{500});
  EXPECT_EQ(extract_yen("￥５２８（税込）"), V{528});
  EXPECT_EQ(extract_yen("１，２３４円"), V{1234});
  EXPECT_EQ(extract_yen("ＪＰＹ　５００"), V{500});
  EXPECT_EQ(extract_yen("５００ＹＥＮ"), V{500});
  EXPECT_EQ(extract_yen("⑩円"), V{10});  // NFKC: circled ten is "10"
  EXPECT_EQ(extract_yen("1,234,567円 and 1,000円"), (V{1234567, 1000}));
}

TEST(PriceGuardTest, ReadsKanjiNumeralsBeforeACurrencyMarker) {
  EXPECT_EQ(extract_yen("五百円"), V{500});
  EXPECT_EQ(extract_yen("ONE PIECE 105巻は五百二十八円です"), V{528});
  EXPECT_EQ(extract_yen("千五百円"), V{1500});
  EXPECT_EQ(extract_yen("二千円"), V{2000});
  EXPECT_EQ(extract_yen("一万円"), V{10000});
  EXPECT_EQ(extract_yen("十円"), V{10});
  EXPECT_EQ(extract_yen("百万円"), V{1000000});
  EXPECT_EQ(extract_yen("三千五百万円"), V{35000000});
  EXPECT_EQ(extract_yen("一億円"), V{100000000});
  EXPECT_EQ(extract_yen("五〇〇円"), V{500});
  EXPECT_EQ(extract_yen("壱万弐千参百円"), V{12300});
  EXPECT_EQ(extract_yen("¥五百"), V{500});
}

TEST(PriceGuardTest, ReadsDigitsMixedWithKanjiUnits) {
  EXPECT_EQ(extract_yen("1万円"), V{10000});
  EXPECT_EQ(extract_yen("1万2千円"), V{12000});
  EXPECT_EQ(extract_yen("1万2000円"), V{12000});
  EXPECT_EQ(extract_yen("1万2,000円"), V{12000});
  EXPECT_EQ(extract_yen("12万3456円"), V{123456});
  EXPECT_EQ(extract_yen("1.5万円"), V{15000});
  EXPECT_EQ(extract_yen("2千500万円"), V{25000000});
  EXPECT_EQ(extract_yen("１万２千円"), V{12000});
}

TEST(PriceGuardTest, ReadsCurrencyWordsInAnyCaseBeforeOrAfter) {
  EXPECT_EQ(extract_yen("500 JPY"), V{500});
  EXPECT_EQ(extract_yen("500JPY"), V{500});
  EXPECT_EQ(extract_yen("JPY 500"), V{500});
  EXPECT_EQ(extract_yen("jpy500"), V{500});
  EXPECT_EQ(extract_yen("500 Yen"), V{500});
  EXPECT_EQ(extract_yen("500 YEN"), V{500});
  EXPECT_EQ(extract_yen("500yen"), V{500});
  EXPECT_EQ(extract_yen("500 yens"), V{500});
  EXPECT_EQ(extract_yen("Yen 500"), V{500});
  EXPECT_EQ(extract_yen("500 円"), V{500});
  EXPECT_EQ(extract_yen("¥500円"), V{500});  // one amount, not two
  EXPECT_EQ(extract_yen("JP¥500"), V{500});
  EXPECT_EQ(extract_yen("税込528円、税抜480円(税込)"), (V{528, 480}));
}

TEST(PriceGuardTest, AnyWhiteSpaceMaySeparateNumberAndCurrency) {
  EXPECT_EQ(extract_yen("500\u00a0円"), V{500});
  EXPECT_EQ(extract_yen("¥\u00a0500"), V{500});
  EXPECT_EQ(extract_yen("¥\u3000500"), V{500});
  EXPECT_EQ(extract_yen("500\t円"), V{500});
  EXPECT_EQ(extract_yen("500\u2009yen"), V{500});
  EXPECT_EQ(extract_yen("¥ \u202f\u205f 500"), V{500});
  EXPECT_EQ(extract_yen("JPY\t\t500"), V{500});
  // Invisible characters inside or around a number hide nothing.
  EXPECT_EQ(extract_yen("5\u200b00\u200d円"), V{500});
  EXPECT_EQ(extract_yen("¥\ufeff1,\u200b234"), V{1234});
}

TEST(PriceGuardTest, NumbersWithoutACurrencyMarkerAreNoPrices) {
  EXPECT_EQ(extract_yen("105巻は528円"), V{528});
  EXPECT_EQ(extract_yen("一巻と三人"), V{});
  EXPECT_EQ(extract_yen("第五巻、二〇二四年"), V{});
  EXPECT_EQ(extract_yen("1万部突破、5千人"), V{});
  EXPECT_EQ(extract_yen("v2 yen"), V{});  // part of a word
  EXPECT_EQ(extract_yen("mp3円"), V{});
  EXPECT_EQ(extract_yen("ｖ２ yen"), V{});          // the same in full width
  EXPECT_EQ(extract_yen("数百円から数万円"), V{});  // a rough size, not a stated price
  EXPECT_EQ(extract_yen("万円"), V{});
  EXPECT_EQ(extract_yen("the yen is strong"), V{});
  EXPECT_EQ(extract_yen("yenta 500"), V{});
  EXPECT_EQ(extract_yen("500 yenta"), V{});
  EXPECT_EQ(extract_yen("JPYX 500 and XJPY 500"), V{});
}

TEST(PriceGuardTest, AmountsOverOneHundredMillionAreLeftOut) {
  EXPECT_EQ(extract_yen("100,000,000円"), V{100000000});
  EXPECT_EQ(extract_yen("１００，０００，０００円"), V{100000000});
  EXPECT_EQ(extract_yen("一億円"), V{100000000});
  EXPECT_EQ(extract_yen("100,000,001円 and 一億一円 and 1兆円 and ¥999999999999999999999"), V{});
}

TEST(PriceGuardTest, MentionsGiveOffsetsIntoTheOriginalText) {
  const std::string ja = "価格は５００円（通常￥ ５２８）です";
  const auto m = find_yen(ja);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], (YenMention{500, 9, 21}));
  EXPECT_EQ(mentioned(ja), (std::vector<std::string>{"５００円", "￥ ５２８"}));
  EXPECT_EQ(mentioned("JPY\u30001,234 yen!"), std::vector<std::string>{"JPY\u30001,234 yen"});
  EXPECT_EQ(mentioned("only ¥\u00a0500."), std::vector<std::string>{"¥\u00a0500"});
  EXPECT_EQ(mentioned("⑩円と1万2千円"), (std::vector<std::string>{"⑩円", "1万2千円"}));
  EXPECT_EQ(mentioned("5\u200b00円"), std::vector<std::string>{"5\u200b00円"});
  EXPECT_EQ(find_yen("is ¥1,320 now"), (std::vector<YenMention>{{1320, 3, 10}}));
  const std::string bad_byte_first = std::string("\xff") + "５００円";
  EXPECT_EQ(find_yen(bad_byte_first), (std::vector<YenMention>{{500, 1, 13}}));
}

TEST(PriceGuardTest, HostileInputIsReadInLinearTimeWithoutHarm) {
  // Invalid UTF-8: what is valid is still read; an overlong "5" is no digit.
  EXPECT_EQ(extract_yen("\xc0\xb5\xc0\xb5円 \xff\xfe ５００円 \xe3\x81"), V{500});
  const std::string surrogate = std::string("\xed\xa0\x80") + "1円\xf4\x90\x80\x80";
  EXPECT_EQ(extract_yen(surrogate), V{1});
  EXPECT_EQ(extract_yen("¥"), V{});
  EXPECT_EQ(extract_yen("\xc2"), V{});
  const std::string nul = std::string("5") + '\0' + "00円";  // NUL is no space
  EXPECT_EQ(extract_yen(nul), V{0});
  EXPECT_EQ(extract_yen(std::string_view("500\xe5\x86", 5)), V{});  // "円" cut short
  std::string s;
  for (int i = 0; i < 100'000; ++i) s += "万";
  EXPECT_EQ(extract_yen(s + "円"), V{});
  EXPECT_EQ(extract_yen("1" + s + "円"), V{});
  EXPECT_EQ(extract_yen(std::string(1'000'000, '9') + "円"), V{});
  EXPECT_EQ(extract_yen("¥" + std::string(1'000'000, '9')), V{});
  std::string kanji;
  for (int i = 0; i < 100'000; ++i) kanji += "九";
  EXPECT_EQ(extract_yen(kanji + "円"), V{});
  std::string mixed;
  for (int i = 0; i < 50'000; ++i) mixed += "一十百千万億兆.5,";
  for (int yen : extract_yen(mixed + "円")) EXPECT_LE(yen, 100'000'000);
  std::string marks;
  for (int i = 0; i < 100'000; ++i) marks += "¥ JPY　yen ";
  EXPECT_EQ(extract_yen(marks + "5円"), V{5});
  std::string fraction = "1." + std::string(1'000'000, '5') + "万円";
  EXPECT_EQ(extract_yen(fraction), V{15555});
  std::string all_bytes;
  for (int round = 0; round < 64; ++round) {
    for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>((b * 37 + round) & 0xff);
  }
  for (const YenMention& m : find_yen(all_bytes)) {
    EXPECT_LE(m.begin, m.end);
    EXPECT_LE(m.end, all_bytes.size());
    EXPECT_LE(m.yen, 100'000'000);
  }
}

class PriceGuardCatalogTest : public CatalogTest {};

TEST_F(PriceGuardCatalogTest, AcceptsThePricePaidAndTheListPriceOnly) {
  const auto now = *catalog::parse_rfc3339_utc("2026-11-26T12:00:00Z");
  const auto jjk = *catalog_->product("mg-0009-v3");  // 20% off ¥528 -> ¥422
  EXPECT_FALSE(check_prices("¥422, usually ¥528", jjk, *catalog_, now).mismatch);
  const auto c = check_prices("only ¥369!", jjk, *catalog_, now);
  EXPECT_TRUE(c.checked);
  EXPECT_TRUE(c.mismatch);
  EXPECT_EQ(c.wrong, std::vector<int>{369});
  EXPECT_FALSE(check_prices("in stock", jjk, *catalog_, now).checked);
}

TEST_F(PriceGuardCatalogTest, CatchesAWrongPriceInAnyWrittenForm) {
  const auto now = *catalog::parse_rfc3339_utc("2026-11-26T12:00:00Z");
  const auto jjk = *catalog_->product("mg-0009-v3");  // 20% off ¥528 -> ¥422
  for (const char* wrong : {"今だけ３６９円!", "今だけ三百六十九円!", "only 369 JPY",
                            "only ￥\u00a0369", "only 369\u00a0円"}) {
    const auto c = check_prices(wrong, jjk, *catalog_, now);
    EXPECT_TRUE(c.checked) << wrong;
    EXPECT_TRUE(c.mismatch) << wrong;
    EXPECT_EQ(c.wrong, std::vector<int>{369}) << wrong;
  }
  const auto right = check_prices("四百二十二円（通常５２８円）", jjk, *catalog_, now);
  EXPECT_TRUE(right.checked);
  EXPECT_FALSE(right.mismatch);
}

TEST_F(PriceGuardCatalogTest, APriceIsCheckedAgainstTheProductNamedNextToIt) {
  const auto now = *catalog::parse_rfc3339_utc("2026-11-26T12:00:00Z");
  // No product in the question (a recommendation): a named volume's price is still checked.
  auto c =
      check_reply_prices("Try Jujutsu Kaisen vol. 3, now ¥300. It is great.", "", *catalog_, now);
  EXPECT_TRUE(c.checked);
  EXPECT_TRUE(c.mismatch);
  EXPECT_EQ(c.wrong, std::vector<int>{300});
  EXPECT_FALSE(
      check_reply_prices("Try Jujutsu Kaisen vol. 3, now ¥422.", "", *catalog_, now).mismatch);
  // A second product in a reply about another: its sentence is checked against it.
  c = check_reply_prices("ONE PIECE 105巻は528円です。呪術廻戦3巻は三百円です。", "mg-0004-v105",
                         *catalog_, now);
  EXPECT_TRUE(c.mismatch);
  EXPECT_EQ(c.wrong, std::vector<int>{300});
  // A volume without its series is the context series' volume.
  EXPECT_TRUE(check_reply_prices("Volume 3 is ¥300.", "mg-0009-v1", *catalog_, now).mismatch);
  EXPECT_FALSE(check_reply_prices("Volume 3 is ¥422.", "mg-0009-v1", *catalog_, now).mismatch);
  // No product anywhere: nothing to check against.
  EXPECT_FALSE(check_reply_prices("Shipping is 300円.", "", *catalog_, now).checked);
}

TEST_F(PriceGuardCatalogTest, RememberedReadingsGiveTheSameChecks) {
  // The pipeline checks through a PriceReadingMemo: only the quotes are read again, so a
  // price that changes between two checks of the same text is still caught.
  UnderstandingMemo understanding;
  PriceReadingMemo readings(&understanding, 4);  // small: the memo starts over as it fills
  const std::vector<std::pair<const char*, const char*>> texts = {
      {"Try Jujutsu Kaisen vol. 3, now ¥300. It is great.", ""},
      {"Try Jujutsu Kaisen vol. 3, now ¥422.", ""},
      {"ONE PIECE 105巻は528円です。呪術廻戦3巻は三百円です。", "mg-0004-v105"},
      {"Volume 3 is ¥300.", "mg-0009-v1"},
      {"Volume 3 is ¥422.", "mg-0009-v1"},
      {"Shipping is 300円.", ""},
      {"ONE PIECE 105巻は369円です。", "mg-0004-v105"},
      {"No price here.", "mg-0004-v105"},
  };
  for (const char* at : {"2026-11-15T10:00:00Z", "2026-11-16T00:00:00Z", "2026-11-26T12:00:00Z"}) {
    const auto now = *catalog::parse_rfc3339_utc(at);
    for (int round = 0; round < 3; ++round) {
      for (const auto& [text, context] : texts) {
        const PriceCheck plain = check_reply_prices(text, context, *catalog_, now);
        const PriceCheck memo = check_reply_prices(text, context, *catalog_, now, &readings);
        EXPECT_EQ(plain.checked, memo.checked) << text << " at " << at;
        EXPECT_EQ(plain.mismatch, memo.mismatch) << text << " at " << at;
        EXPECT_EQ(plain.wrong, memo.wrong) << text << " at " << at;
      }
    }
  }
  // The sale ends between the two checks: the same remembered text goes from right to wrong.
  EXPECT_FALSE(check_reply_prices("ONE PIECE 105巻は369円です。", "mg-0004-v105", *catalog_,
                                  *catalog::parse_rfc3339_utc("2026-11-15T10:00:00Z"), &readings)
                   .mismatch);
  EXPECT_TRUE(check_reply_prices("ONE PIECE 105巻は369円です。", "mg-0004-v105", *catalog_,
                                 *catalog::parse_rfc3339_utc("2026-11-16T00:00:00Z"), &readings)
                  .mismatch);
}

TEST_F(PriceGuardCatalogTest, StatedPricesGoStaleWhenASaleEnds) {
  const std::vector<std::pair<std::string, int>> stated = {{"mg-0004-v105", 369}};  // 30% off
  EXPECT_FALSE(check_stated(stated, *catalog_, *catalog::parse_rfc3339_utc("2026-11-15T10:00:00Z"))
                   .mismatch);
  EXPECT_TRUE(check_stated(stated, *catalog_, *catalog::parse_rfc3339_utc("2026-11-16T00:00:00Z"))
                  .mismatch);
}

}  // namespace
}  // namespace ma::assist
