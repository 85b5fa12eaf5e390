#include "assist/price_guard.hpp"

#include <gtest/gtest.h>

#include "assist/catalog_fixture.hpp"
#include "assist/retrieval.hpp"

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

TEST_F(PriceGuardCatalogTest, StatedPricesGoStaleWhenASaleEnds) {
  const std::vector<std::pair<std::string, int>> stated = {{"mg-0004-v105", 369}};  // 30% off
  EXPECT_FALSE(check_stated(stated, *catalog_, *catalog::parse_rfc3339_utc("2026-11-15T10:00:00Z"))
                   .mismatch);
  EXPECT_TRUE(check_stated(stated, *catalog_, *catalog::parse_rfc3339_utc("2026-11-16T00:00:00Z"))
                  .mismatch);
}

}  // namespace
}  // namespace ma::assist
