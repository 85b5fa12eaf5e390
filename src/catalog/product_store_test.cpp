#include "catalog/product_store.hpp"

#include <gtest/gtest.h>

#include "catalog/test_files.hpp"
#include "core/text.hpp"

namespace ma::catalog {
namespace {

Series make_series(std::string id, std::string demographic, int volumes) {
  Series s;
  s.id = std::move(id);
  s.demographic = std::move(demographic);
  s.volumes = volumes;
  return s;
}

int derived_stock(std::string_view product_id) {
  const std::uint64_t h = core::fnv1a(product_id);
  return h % 9 == 0 ? 0 : static_cast<int>(1 + h % 50);
}

class ProductStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(series_.add(make_series("sh", "Shounen", 3)));
    ASSERT_TRUE(series_.add(make_series("jo", "Josei", 2)));
    ASSERT_TRUE(series_.add(make_series("none", "", 1)));
  }
  SeriesTable series_;
  TempFiles files_;
};

TEST_F(ProductStoreTest, DerivesOneProductPerVolumeWithTheDemographicsPrice) {
  ProductStore store(series_);
  ASSERT_TRUE(store.open(":memory:").ok());
  EXPECT_EQ(store.size(), 6u);
  const auto p = store.product("jo-v2");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->series_id, "jo");
  EXPECT_EQ(p->volume, 2);
  EXPECT_EQ(p->price_jpy, 770);
  EXPECT_EQ(p->stock, derived_stock("jo-v2"));
  EXPECT_EQ(store.product("sh-v1")->price_jpy, 528);
  EXPECT_EQ(store.product("none-v1")->price_jpy, 693);
  EXPECT_FALSE(store.product("sh-v4").has_value());
  EXPECT_FALSE(store.product("sh").has_value());
}

TEST_F(ProductStoreTest, VolumeFindsTheSeriesOwnProductsOnly) {
  ProductStore store(series_);
  ASSERT_TRUE(store.open(":memory:").ok());
  const Series& jo = series_[1];
  EXPECT_EQ(store.volume(jo, 1)->id, "jo-v1");
  EXPECT_EQ(store.volume(jo, 2)->id, "jo-v2");
  EXPECT_FALSE(store.volume(jo, 0).has_value());
  EXPECT_FALSE(store.volume(jo, 3).has_value());  // would be the next series' first volume
  EXPECT_EQ(store.volume(series_[2], 1)->id, "none-v1");
}

TEST_F(ProductStoreTest, ListPriceNamesTheSeriesAndFollowsUpdates) {
  ProductStore store(series_);
  ASSERT_TRUE(store.open(":memory:").ok());
  auto lp = store.list_price("sh-v2");
  ASSERT_TRUE(lp.has_value());
  EXPECT_EQ(lp->price_jpy, 528);
  EXPECT_EQ(lp->series_id, "sh");
  ASSERT_TRUE(store.update("sh-v2", 600, std::nullopt).ok());
  EXPECT_EQ(store.list_price("sh-v2")->price_jpy, 600);
  EXPECT_FALSE(store.list_price("zz-v1").has_value());
}

TEST_F(ProductStoreTest, UpdateValidatesAndLeavesTheProductAloneOnError) {
  ProductStore store(series_);
  ASSERT_TRUE(store.open(":memory:").ok());
  int calls = 0;
  store.on_change([&](const ProductChange&) { ++calls; });
  EXPECT_EQ(store.update("zz-v1", 500, 1).error().code, "not_found");
  EXPECT_EQ(store.update("sh-v1", 0, std::nullopt).error().code, "invalid_price");
  EXPECT_EQ(store.update("sh-v1", 1'000'001, std::nullopt).error().code, "invalid_price");
  EXPECT_EQ(store.update("sh-v1", std::nullopt, -1).error().code, "invalid_stock");
  EXPECT_EQ(store.update("sh-v1", 500, 1'000'001).error().code, "invalid_stock");
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(store.product("sh-v1")->price_jpy, 528);
  EXPECT_TRUE(store.update("sh-v1", 1'000'000, 0).ok());
  EXPECT_TRUE(store.update("sh-v1", 1, 1'000'000).ok());
  EXPECT_EQ(calls, 2);
}

TEST_F(ProductStoreTest, ListenersHearOldAndNewValuesInOrderAndMayCallBack) {
  ProductStore store(series_);
  ASSERT_TRUE(store.open(":memory:").ok());
  std::vector<std::string> seen;
  store.on_change([&](const ProductChange& ch) {
    seen.push_back("first " + ch.product_id + " " + ch.series_id + " " +
                   std::to_string(ch.old_price) + "->" + std::to_string(ch.new_price) + " " +
                   std::to_string(ch.old_stock) + "->" + std::to_string(ch.new_stock));
    // Listeners run outside the store's lock: they may read, and even add a listener.
    EXPECT_EQ(store.product(ch.product_id)->stock, ch.new_stock);
    store.on_change([](const ProductChange&) {});
  });
  store.on_change([&](const ProductChange&) { seen.push_back("second"); });
  const int stock = derived_stock("jo-v1");
  ASSERT_TRUE(store.update("jo-v1", std::nullopt, 7).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "first jo-v1 jo 770->770 " + std::to_string(stock) + "->7");
  EXPECT_EQ(seen[1], "second");
}

TEST_F(ProductStoreTest, StoredValuesWinAndNewProductsAreSeeded) {
  const std::string db = files_.write("catalog.db", "");
  {
    ProductStore store(series_);
    ASSERT_TRUE(store.open(db).ok());
    ASSERT_TRUE(store.update("sh-v3", 999, 4).ok());
  }
  ASSERT_TRUE(series_.add(make_series("new", "Shoujo", 2)));
  {
    ProductStore store(series_);
    ASSERT_TRUE(store.open(db).ok());
    EXPECT_EQ(store.product("sh-v3")->price_jpy, 999);
    EXPECT_EQ(store.product("sh-v3")->stock, 4);
    EXPECT_EQ(store.product("new-v2")->price_jpy, 506);
    ASSERT_TRUE(store.update("new-v2", 321, std::nullopt).ok());  // the row exists now
  }
  {
    ProductStore store(series_);
    ASSERT_TRUE(store.open(db).ok());
    EXPECT_EQ(store.product("new-v2")->price_jpy, 321);
    EXPECT_EQ(store.product("sh-v3")->price_jpy, 999);
  }
}

TEST_F(ProductStoreTest, AnUnopenableDatabaseIsAClearError) {
  ProductStore store(series_);
  const auto st = store.open(files_.missing() + "/no/such/folder/catalog.db");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "store_unavailable");
}

}  // namespace
}  // namespace ma::catalog
