#include "catalog/series_table.hpp"

#include <gtest/gtest.h>

#include "catalog/test_files.hpp"
#include "core/text.hpp"

namespace ma::catalog {
namespace {

class SeriesTableTest : public ::testing::Test {
 protected:
  TempFiles files_;
};

TEST_F(SeriesTableTest, RanksByFileOrderAndNumbersProductsAcrossSeries) {
  const auto path = files_.write("s.jsonl", R"({"id": "a", "title_en": "Alpha", "volumes": 3})"
                                            "\n\n"
                                            R"({"id": "b", "title_en": "Beta", "volumes": 2})"
                                            "\n"
                                            R"({"id": "c", "title_en": "Gamma", "volumes": 4})"
                                            "\n");
  SeriesTable t;
  ASSERT_TRUE(t.load(path).ok());
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].popularity_rank, 1);
  EXPECT_EQ(t[2].popularity_rank, 3);
  EXPECT_EQ(t[0].first_product, 0u);
  EXPECT_EQ(t[1].first_product, 3u);
  EXPECT_EQ(t[2].first_product, 5u);
  EXPECT_EQ(t.product_total(), 9u);
  EXPECT_EQ(t.find("b"), &t[1]);
  EXPECT_EQ(t.index_of("c"), 2u);
  EXPECT_EQ(t.find("d"), nullptr);
  EXPECT_FALSE(t.index_of("d").has_value());
}

TEST_F(SeriesTableTest, DerivesVolumesDemographicAndKeepsListsInOrder) {
  const auto path = files_.write(
      "s.jsonl",
      R"({"id": "mg-x", "title_ja": "エックス", "genres": ["Action", "Seinen", 7, "Drama"],)"
      R"( "authors": ["A", "B"], "year": 2001, "volumes": 0})"
      "\n");
  SeriesTable t;
  ASSERT_TRUE(t.load(path).ok());
  const Series& s = t[0];
  EXPECT_EQ(s.volumes, static_cast<int>(5 + core::fnv1a("mg-x") % 26));
  EXPECT_EQ(s.demographic, "Seinen");
  EXPECT_EQ(s.genres, (std::vector<std::string>{"Action", "Seinen", "Drama"}));
  EXPECT_EQ(s.authors, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(s.year, 2001);
  EXPECT_EQ(s.display_title(false), "エックス");  // no English or romaji title
  EXPECT_EQ(s.display_title(true), "エックス");
}

TEST_F(SeriesTableTest, DisplayTitlePrefersTheLanguageThenEnglishThenRomaji) {
  Series s;
  s.title_en = "Attack on Titan";
  s.title_ja = "進撃の巨人";
  s.title_romaji = "Shingeki no Kyojin";
  EXPECT_EQ(s.display_title(true), "進撃の巨人");
  EXPECT_EQ(s.display_title(false), "Attack on Titan");
  s.title_en.clear();
  EXPECT_EQ(s.display_title(false), "Shingeki no Kyojin");
}

TEST_F(SeriesTableTest, RejectsDuplicateAndMissingIds) {
  SeriesTable dup;
  const auto st = dup.load(files_.write("d.jsonl", "{\"id\": \"a\"}\n{\"id\": \"a\"}\n"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "catalog_invalid");

  SeriesTable t;
  Series s;
  s.volumes = 1;
  EXPECT_FALSE(t.add(s));  // no id
  s.id = "a";
  EXPECT_TRUE(t.add(s));
  EXPECT_FALSE(t.add(s));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.product_total(), 1u);
}

TEST_F(SeriesTableTest, MissingFileAndBadLinesAreErrors) {
  SeriesTable t;
  EXPECT_EQ(t.load(files_.missing()).error().code, "catalog_missing");
  EXPECT_EQ(t.load(files_.write("bad.jsonl", "[1, 2]\n")).error().code, "catalog_invalid");
}

}  // namespace
}  // namespace ma::catalog
