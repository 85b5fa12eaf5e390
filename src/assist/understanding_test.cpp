#include "assist/understanding.hpp"

#include <gtest/gtest.h>

#include <string>

#include "assist/catalog_fixture.hpp"

namespace ma::assist {
namespace {

class UnderstandingTest : public CatalogTest {};

TEST_F(UnderstandingTest, OneNormalisationFindsTitleVolumeAndIntentInBothLanguages) {
  const Understanding ja = understand("ＯＮＥ　ＰＩＥＣＥの105巻はいくら？", *catalog_);
  ASSERT_NE(ja.series, nullptr);
  EXPECT_EQ(ja.series->title_en, "One Piece");  // full-width input, folded
  EXPECT_EQ(ja.volume, 105);
  EXPECT_EQ(ja.intent, Intent::kPricing);
  EXPECT_EQ(ja.lang, fm::Language::kJa);
  const Understanding en = understand("Is One Piece vol. 104 in stock?", *catalog_);
  ASSERT_NE(en.series, nullptr);
  EXPECT_EQ(en.series, ja.series);
  EXPECT_EQ(en.volume, 104);
  EXPECT_EQ(en.intent, Intent::kAvailability);
  EXPECT_EQ(understand("Where is my order #12345?", *catalog_).order_id, "12345");
}

TEST_F(UnderstandingTest, MemoAgreesWithUnderstandAndKeepsTextsFromTheirSecondSighting) {
  UnderstandingMemo memo(1024);  // 64 entries per shard
  const std::string q = "ONE PIECEの105巻はいくら？";
  const auto first = memo.get(q, *catalog_);
  const auto second = memo.get(q, *catalog_);
  const auto third = memo.get(q, *catalog_);
  const Understanding direct = understand(q, *catalog_);
  for (const auto& u : {first, second, third}) {
    EXPECT_EQ(u->intent, direct.intent);
    EXPECT_EQ(u->series, direct.series);
    EXPECT_EQ(u->volume, direct.volume);
    EXPECT_EQ(u->normalized, direct.normalized);
  }
  EXPECT_NE(first.get(), second.get());  // the first sighting is not kept
  EXPECT_EQ(second.get(), third.get());  // the second is
  // A flood of one-off questions (ten times what the memo holds) does not push it out.
  for (int i = 0; i < 10'000; ++i)
    (void)memo.get("question number " + std::to_string(i), *catalog_);
  EXPECT_EQ(memo.get(q, *catalog_).get(), third.get());
}

}  // namespace
}  // namespace ma::assist
