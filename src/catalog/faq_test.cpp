#include "catalog/faq.hpp"

#include <gtest/gtest.h>

#include "catalog/test_files.hpp"

namespace ma::catalog {
namespace {

class FaqTest : public ::testing::Test {
 protected:
  TempFiles files_;
};

TEST_F(FaqTest, LoadsEntriesInOrderWithNormalizedKeywords) {
  Faq faq;
  ASSERT_TRUE(faq.load(files_.write("faq.json", R"({"entries": [
      {"id": "shipping", "keywords": ["Delivery  Fee!", "ＰＯＳＴＡＧＥ", "送料", 3],
       "en": "Free over 3,000 yen.", "ja": "送料無料", "url": "/help/shipping"},
      "not an entry",
      {"id": "returns"}]})"))
                  .ok());
  const auto& e = faq.entries();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].id, "shipping");
  EXPECT_EQ(e[0].keywords, (std::vector<std::string>{"delivery fee", "postage", "送料"}));
  EXPECT_EQ(e[0].en, "Free over 3,000 yen.");
  EXPECT_EQ(e[0].ja, "送料無料");
  EXPECT_EQ(e[0].url, "/help/shipping");
  EXPECT_EQ(e[1].id, "returns");
  EXPECT_TRUE(e[1].keywords.empty());
}

TEST_F(FaqTest, AMissingFileHasNoEntriesAndABadOneIsAnError) {
  Faq faq;
  EXPECT_TRUE(faq.load(files_.missing()).ok());
  EXPECT_TRUE(faq.entries().empty());
  EXPECT_EQ(faq.load(files_.write("faq.json", "{\"entries\": [")).error().code, "catalog_invalid");
  EXPECT_EQ(faq.load(files_.write("faq.json", "\"text\"")).error().code, "catalog_invalid");
}

}  // namespace
}  // namespace ma::catalog
