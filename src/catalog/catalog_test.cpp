#include "catalog/catalog.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/text.hpp"

namespace ma::catalog {
namespace {

std::string data_dir() { return std::string(MA_SOURCE_DIR) + "/data"; }

class CatalogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = Catalog::open({data_dir(), ":memory:"});
    ASSERT_TRUE(c.ok()) << c.error().message;
    catalog_ = std::move(c).value().release();
  }
  static void TearDownTestSuite() { delete catalog_; }
  static Catalog* catalog_;
};
Catalog* CatalogTest::catalog_ = nullptr;

const core::WallTime kNow = *parse_rfc3339_utc("2026-11-26T12:00:00Z");

TEST_F(CatalogTest, DerivesOneProductPerVolume) {
  const Series* op = catalog_->series("mg-0004");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->volumes, 110);
  EXPECT_EQ(op->demographic, "Shounen");
  EXPECT_GT(catalog_->product_count(), 2000u * 5);
  EXPECT_FALSE(catalog_->volume(*op, 0).has_value());
  EXPECT_FALSE(catalog_->volume(*op, 111).has_value());
}

TEST_F(CatalogTest, PricesOnePieceVolume105AtTheSeedsExample) {
  const auto p = catalog_->product("mg-0004-v105");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->price_jpy, 528);
  EXPECT_EQ(catalog_->quote(*p, kNow).price, 528);  // no sale on ONE PIECE today
}

TEST_F(CatalogTest, AppliesActiveSalesOnly) {
  const auto jjk = catalog_->product("mg-0009-v1");
  ASSERT_TRUE(jjk.has_value());
  const Quote q = catalog_->quote(*jjk, kNow);
  ASSERT_NE(q.sale, nullptr);
  EXPECT_EQ(q.sale->discount_pct, 20);
  EXPECT_EQ(q.price, 528 * 80 / 100);
  // The ONE PIECE weekend sale ended on 2026-11-16.
  const auto op = catalog_->product("mg-0004-v105");
  EXPECT_EQ(catalog_->quote(*op, *parse_rfc3339_utc("2026-11-15T10:00:00Z")).price, 528 * 70 / 100);
  EXPECT_EQ(catalog_->quote(*op, *parse_rfc3339_utc("2026-11-16T00:00:00Z")).sale, nullptr);
}

TEST_F(CatalogTest, QuotesByIdWhatItQuotesForTheProductAndFollowsPriceChanges) {
  const auto by_id = catalog_->quote("mg-0009-v1", kNow);
  ASSERT_TRUE(by_id.has_value());
  const Quote q = catalog_->quote(*catalog_->product("mg-0009-v1"), kNow);
  EXPECT_EQ(by_id->price, q.price);
  EXPECT_EQ(by_id->list_price, q.list_price);
  EXPECT_EQ(by_id->sale, q.sale);
  ASSERT_TRUE(catalog_->update_product("mg-0009-v1", 600, std::nullopt).ok());
  EXPECT_EQ(catalog_->quote("mg-0009-v1", kNow)->price, 600 * 80 / 100);
  EXPECT_FALSE(catalog_->quote("mg-9999-v1", kNow).has_value());
}

TEST_F(CatalogTest, FindsSeriesInJapaneseAndEnglishMessages) {
  auto first = [&](std::string_view msg) -> std::string {
    auto m = catalog_->find_series(msg);
    return m.empty() ? "" : m.front().series->id;
  };
  EXPECT_EQ(first("ONE PIECEの105巻はいくら？"), "mg-0004");
  EXPECT_EQ(first("ＯＮＥ　ＰＩＥＣＥ　105巻"), "mg-0004");  // full-width
  EXPECT_EQ(first("ワンピースの最新刊"), "mg-0004");
  EXPECT_EQ(first("how much is one piece volume 105?"), "mg-0004");
  EXPECT_EQ(first("進撃の巨人は在庫ありますか"), "mg-0002");
  EXPECT_EQ(first("Is Shingeki no Kyojin in stock?"), "mg-0002");
  EXPECT_EQ(first("something like Demon Slayer please"), "mg-0008");
  EXPECT_EQ(first("鬼滅の刃 23巻"), "mg-0008");
  EXPECT_EQ(first("Where is my order #12345?"), "");
  // Word boundaries: "one piece" does not match inside "someone piecemeal".
  EXPECT_EQ(first("someone piecemeal"), "");
}

TEST_F(CatalogTest, FuzzySearchAcrossScripts) {
  auto top = [&](std::string_view q) -> std::string {
    auto r = catalog_->search(q, 3);
    return r.empty() ? "" : r.front()->id;
  };
  EXPECT_EQ(top("進撃の巨人"), "mg-0002");
  EXPECT_EQ(top("kimetsu no yaiba"), "mg-0008");
  EXPECT_EQ(top("Jujutsu"), "mg-0009");
  EXPECT_EQ(top("葬送のフリーレン"), "mg-0089");
}

TEST_F(CatalogTest, OrdersAndUsers) {
  const auto o = catalog_->order("12345");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->user_id, "u-1001");
  const auto u = catalog_->user("u-1001");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->name, "Aiko");
  EXPECT_FALSE(catalog_->user("u-100").has_value());
  EXPECT_EQ(catalog_->user("u-1002")->tier, UserTier::kPremium);
}

TEST_F(CatalogTest, SimilarSeriesShareGenresButNotAuthors) {
  const Series* jjk = catalog_->series("mg-0009");
  const auto sim = catalog_->similar(*jjk, 5);
  ASSERT_EQ(sim.size(), 5u);
  for (const Series* s : sim) {
    EXPECT_NE(s->id, "mg-0009");
    EXPECT_NE(s->id, "mg-0122");  // Jujutsu Kaisen 0: same author
  }
}

TEST_F(CatalogTest, ThePartsAnswerWhatTheFacadeAnswers) {
  EXPECT_EQ(&catalog_->pricing().sales(), &catalog_->sales());
  EXPECT_EQ(catalog_->titles().find_series("ワンピース").front().series,
            catalog_->series("mg-0004"));
  EXPECT_EQ(catalog_->accounts().order("12345")->user_id, catalog_->order("12345")->user_id);
}

TEST_F(CatalogTest, EverySeriesVolumesAreItsOwnProducts) {
  std::size_t volumes = 0;
  for (const Series& s : catalog_->all_series()) {
    volumes += static_cast<std::size_t>(s.volumes);
    ASSERT_EQ(catalog_->volume(s, 1)->id, s.id + "-v1");
    ASSERT_EQ(catalog_->volume(s, s.volumes)->id, s.id + "-v" + std::to_string(s.volumes));
  }
  EXPECT_EQ(catalog_->product_count(), volumes);
}

TEST(CatalogStoreTest, PriceAndStockChangesSurviveARestart) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("ma_catalog_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "catalog.db").string();
  {
    auto c = Catalog::open({data_dir(), db});
    ASSERT_TRUE(c.ok()) << c.error().message;
    std::vector<ProductChange> seen;
    (*c)->on_change([&](const ProductChange& ch) { seen.push_back(ch); });
    ASSERT_TRUE((*c)->update_product("mg-0004-v105", 600, 3).ok());
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].old_price, 528);
    EXPECT_EQ(seen[0].new_price, 600);
    EXPECT_FALSE((*c)->update_product("mg-9999-v1", 600, 3).ok());
    EXPECT_EQ((*c)->update_product("mg-0004-v105", -5, std::nullopt).error().code, "invalid_price");
  }
  {
    auto c = Catalog::open({data_dir(), db});
    ASSERT_TRUE(c.ok());
    const auto p = (*c)->product("mg-0004-v105");
    EXPECT_EQ(p->price_jpy, 600);
    EXPECT_EQ(p->stock, 3);
    EXPECT_EQ((*c)->product("mg-0004-v104")->price_jpy, 528);
  }
  std::filesystem::remove_all(dir);
}

TEST(CatalogStoreTest, MissingDataIsAClearError) {
  auto c = Catalog::open({"/nonexistent", ":memory:"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "catalog_missing");
}

}  // namespace
}  // namespace ma::catalog
