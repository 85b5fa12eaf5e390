#include "catalog/title_index.hpp"

#include <gtest/gtest.h>

#include "catalog/test_files.hpp"

namespace ma::catalog {
namespace {

Series make_series(std::string id, std::string title_en, std::string title_ja,
                   std::vector<std::string> genres, std::vector<std::string> authors) {
  Series s;
  s.id = std::move(id);
  s.title_en = std::move(title_en);
  s.title_ja = std::move(title_ja);
  s.genres = std::move(genres);
  s.authors = std::move(authors);
  s.volumes = 1;
  return s;
}

class TitleIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // In popularity order.
    add(make_series("one", "One Piece", "ワンピース", {"Action", "Adventure", "Shounen", "Comedy"},
                    {"Oda"}));
    add(make_series("demon", "Demon Slayer: Kimetsu no Yaiba", "鬼滅の刃",
                    {"Action", "Shounen", "Historical"}, {"Gotouge"}));
    add(make_series("film", "One Piece Film", "", {"Action", "Adventure"}, {"Oda"}));
    Series dup = make_series("ab", "AB", "", {"Comedy", "Romance"}, {"Z"});
    dup.title_romaji = "One Piece";  // a name series "one" has already
    add(std::move(dup));
    add(make_series("advcom", "Adventure Comedy", "", {"Action", "Adventure", "Comedy"}, {"X"}));
    add(make_series("act", "Act", "", {"Action", "Shounen"}, {"Y"}));
    index_.add_titles();
  }
  void add(Series s) { ASSERT_TRUE(series_.add(std::move(s))); }

  // The ids of the series found in `text`, in order.
  std::vector<std::string> found(std::string_view text) const {
    std::vector<std::string> ids;
    for (const auto& m : index_.find_series(text)) ids.push_back(m.series->id);
    return ids;
  }
  static std::vector<std::string> ids(const std::vector<const Series*>& v) {
    std::vector<std::string> out;
    for (const Series* s : v) out.push_back(s->id);
    return out;
  }
  using Ids = std::vector<std::string>;

  SeriesTable series_;
  TitleIndex index_{series_};
  TempFiles files_;
};

TEST_F(TitleIndexTest, AsciiTitlesMatchWholeWordsOnly) {
  EXPECT_EQ(found("I love ONE PIECE!"), Ids{"one"});
  EXPECT_EQ(found("someone piece"), Ids{});
  EXPECT_EQ(found("one piecemeal"), Ids{});
  EXPECT_EQ(found("ＯＮＥ　ＰＩＥＣＥの105巻"), Ids{"one"});  // a CJK neighbour is a boundary
}

TEST_F(TitleIndexTest, ReportsTheMatchsByteRangeInTheNormalizedText) {
  const auto m = index_.find_series_normalized("i love one piece");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].begin, 7u);
  EXPECT_EQ(m[0].end, 16u);
}

TEST_F(TitleIndexTest, CjkTitlesMatchAnywhere) {
  EXPECT_EQ(found("最新のワンピースは"), Ids{"one"});
  EXPECT_EQ(found("鬼滅の刃23巻"), Ids{"demon"});
}

TEST_F(TitleIndexTest, LongestMatchFirstThenMostPopularAndOneMatchPerSeries) {
  EXPECT_EQ(found("鬼滅の刃 and one piece film"), (Ids{"film", "demon", "one"}));
  // "ワンピース" (15 bytes) is the longer name of "one": its match is the one kept.
  const auto m = index_.find_series("one piece or ワンピース");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].series->id, "one");
  EXPECT_EQ(m[0].end - m[0].begin, 15u);
}

TEST_F(TitleIndexTest, ATitleIsAlsoKnownByThePartBeforeItsColon) {
  EXPECT_EQ(found("something like demon slayer"), Ids{"demon"});
  EXPECT_EQ(found("demon slayer kimetsu no yaiba"), Ids{"demon"});
}

TEST_F(TitleIndexTest, TheFirstSeriesKeepsASharedNameAndShortKeysAreIgnored) {
  EXPECT_EQ(found("one piece"), Ids{"one"});  // not "ab", whose romaji title is the same
  EXPECT_EQ(found("ab"), Ids{});              // "AB" is too short to be a key
  index_.add_key("Za", 5);
  index_.add_key("鬼", 5);
  index_.add_key("act two", 0);
  index_.add_key("Demon Slayer", 5);  // taken
  EXPECT_EQ(found("za 鬼 demon slayer"), Ids{"demon"});
  EXPECT_EQ(found("act two"), (Ids{"one", "act"}));  // the longer key first
}

TEST_F(TitleIndexTest, AliasesAddNamesForKnownSeries) {
  ASSERT_TRUE(index_
                  .load_aliases(files_.write("aliases.json", R"({"aliases": {
      "demon": ["きめつ", "Kimetsu", 5], "nobody": ["Ghost Title"], "one": "not a list",
      "film": ["ONE PIECE"]}})"))
                  .ok());
  EXPECT_EQ(found("きめつの新刊"), Ids{"demon"});
  EXPECT_EQ(found("kimetsu"), Ids{"demon"});
  EXPECT_EQ(found("ghost title"), Ids{});
  EXPECT_EQ(found("one piece"), Ids{"one"});
  EXPECT_TRUE(index_.load_aliases(files_.missing()).ok());
  EXPECT_EQ(index_.load_aliases(files_.write("bad.json", "{")).error().code, "catalog_invalid");
}

TEST_F(TitleIndexTest, SearchRanksByBigramShareThenPopularity) {
  EXPECT_EQ(ids(index_.search("kimetsu", 3)), Ids{"demon"});
  EXPECT_EQ(ids(index_.search("One Piece", 5)), (Ids{"one", "film", "ab"}));
  EXPECT_EQ(ids(index_.search("one piece", 2)), (Ids{"one", "film"}));
  EXPECT_EQ(ids(index_.search("piece film", 5)), (Ids{"film", "one", "ab"}));
  // Half of the query's bigrams is enough; fewer is not.
  EXPECT_EQ(ids(index_.search("one xyz", 1)), Ids{"one"});
  EXPECT_EQ(ids(index_.search("on xyzw", 5)), Ids{});
  EXPECT_EQ(ids(index_.search("x", 5)), Ids{});  // no bigram at all
}

TEST_F(TitleIndexTest, SimilarSharesTwoGenresAndNoAuthor) {
  const Series& one = series_[0];
  // "film" has the same author; "ab" shares one genre only.
  EXPECT_EQ(ids(index_.similar(one, 5)), (Ids{"advcom", "demon", "act"}));
  EXPECT_EQ(ids(index_.similar(one, 1)), Ids{"advcom"});  // from the memo
  EXPECT_EQ(ids(index_.similar(one, 20)), (Ids{"advcom", "demon", "act"}));
  const Series& act = series_[5];
  EXPECT_EQ(ids(index_.similar(act, 2)), (Ids{"one", "demon"}));
}

TEST_F(TitleIndexTest, PopularInGenreKeepsPopularityOrder) {
  EXPECT_EQ(ids(index_.popular_in_genre("Shounen", 5)), (Ids{"one", "demon", "act"}));
  EXPECT_EQ(ids(index_.popular_in_genre("Shounen", 2)), (Ids{"one", "demon"}));
  EXPECT_EQ(ids(index_.popular_in_genre("", 2)), (Ids{"one", "demon"}));
  EXPECT_EQ(ids(index_.popular_in_genre("Horror", 5)), Ids{});
}

}  // namespace
}  // namespace ma::catalog
