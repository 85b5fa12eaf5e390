#include "assist/stream_guard.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ma::assist {
namespace {

class StreamGuardTest : public ::testing::Test {
 protected:
  // Right prices: 528 only.
  StreamGuard guard_{[this](std::string_view s) {
                       checked_.emplace_back(s);
                       return s.find("300") == std::string_view::npos &&
                              s.find("三百") == std::string_view::npos;
                     },
                     [this](std::string_view s) { shown_ += s; }};
  std::string shown_;
  std::vector<std::string> checked_;

  void feed_bytewise(std::string_view s) {
    for (char c : s) guard_.feed(std::string_view(&c, 1));
  }
};

TEST_F(StreamGuardTest, TextWithoutNumbersFlowsAtOnce) {
  guard_.feed("Frieren is a fantasy series about");
  EXPECT_EQ(shown_, "Frieren is a fantasy series about");
  EXPECT_TRUE(checked_.empty());
}

TEST_F(StreamGuardTest, ASentenceWithAPriceIsHeldUntilCheckedWhole) {
  guard_.feed("ONE PIECE 105巻は5");
  EXPECT_EQ(shown_, "ONE PIECE ");  // from the first digit on, held
  guard_.feed("28円です。次に");
  EXPECT_EQ(shown_, "ONE PIECE 105巻は528円です。次に");
  ASSERT_EQ(checked_.size(), 1u);
  // The whole sentence is checked: what flowed before the price names the product.
  EXPECT_EQ(checked_[0], "ONE PIECE 105巻は528円です。");
}

TEST_F(StreamGuardTest, AWrongPriceNeverLeavesAndStopsTheAttempt) {
  feed_bytewise("Volume 105 costs ¥300. It ships today.");
  EXPECT_EQ(shown_, "Volume ");
  EXPECT_TRUE(guard_.stopped());
  guard_.feed(" More text.");
  EXPECT_EQ(shown_, "Volume ");
}

TEST_F(StreamGuardTest, KanjiNumeralsAndCurrencyWordsAreHeldToo) {
  guard_.feed("価格は三百円です。");
  EXPECT_EQ(shown_, "価格は");
  EXPECT_TRUE(guard_.stopped());
}

TEST_F(StreamGuardTest, ACurrencyWordSplitAcrossChunksIsHeld) {
  guard_.feed("Only JP");
  EXPECT_EQ(shown_, "Only ");
  guard_.feed("Y 300 today. ");
  EXPECT_EQ(shown_, "Only ");
  EXPECT_TRUE(guard_.stopped());
}

TEST_F(StreamGuardTest, DigitsOfAnyScriptTheGuardReadsAreHeldToo) {
  guard_.feed("It is \U0001D7D3\U0001D7CE\U0001D7CE");  // mathematical bold 500
  EXPECT_EQ(shown_, "It is ");
  guard_.feed(" or ⑤");
  EXPECT_EQ(shown_, "It is ");
}

TEST_F(StreamGuardTest, AnUnfinishedSentenceWithANumberIsNeverReleased) {
  guard_.feed("It is 528");
  EXPECT_EQ(shown_, "It is ");
  EXPECT_FALSE(guard_.stopped());
}

TEST_F(StreamGuardTest, AWellFinishedStreamReleasesItsCheckedTail) {
  guard_.feed("It is 528");
  guard_.finish();
  EXPECT_EQ(shown_, "It is 528");
}

TEST_F(StreamGuardTest, AFinishedStreamWithAWrongPriceInItsTailWithholdsIt) {
  guard_.feed("It is 300");
  guard_.finish();
  EXPECT_EQ(shown_, "It is ");
  EXPECT_TRUE(guard_.stopped());
}

TEST_F(StreamGuardTest, DecimalPointsDoNotEndASentence) {
  feed_bytewise("Rated 4.5 of 5, and ¥300 now. ");
  EXPECT_EQ(shown_, "Rated ");
  EXPECT_TRUE(guard_.stopped());
}

TEST_F(StreamGuardTest, VolAbbreviationsDoNotEndTheSentence) {
  feed_bytewise("Try ONE PIECE vol. 105, only 300 yen. ");
  EXPECT_EQ(shown_, "Try ONE PIECE vol. ");
  EXPECT_TRUE(guard_.stopped());
  ASSERT_EQ(checked_.size(), 1u);
  EXPECT_EQ(checked_[0], "Try ONE PIECE vol. 105, only 300 yen.");
}

TEST_F(StreamGuardTest, MultiByteTextSplitMidSequenceIsNeverCutInHalf) {
  feed_bytewise("こんにちは、フリーレン");
  EXPECT_EQ(shown_, "こんにちは、フリーレン");
}

}  // namespace
}  // namespace ma::assist
