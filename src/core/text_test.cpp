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

}  // namespace
}  // namespace ma::core
