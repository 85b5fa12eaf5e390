#include "cache/response_cache.hpp"

#include <gtest/gtest.h>

namespace ma::cache {
namespace {

using namespace std::chrono_literals;
const TimePoint kT0{std::chrono::hours(3)};

CachedReply entry(std::string category, std::vector<std::string> products = {},
                  std::string text = "answer") {
  CachedReply r;
  r.text = std::move(text);
  r.category = std::move(category);
  r.product_ids = std::move(products);
  return r;
}

TEST(ResponseCacheTest, EntriesExpireAfterTheirTtl) {
  ResponseCache c;
  c.put("k", entry("pricing"), 15min, kT0);
  EXPECT_TRUE(c.get("k", kT0 + 15min - 1ns).has_value());
  EXPECT_FALSE(c.get("k", kT0 + 15min).has_value());
  EXPECT_EQ(c.size(), 0u);  // an expired entry is dropped when found
  c.put("z", entry("faq"), 0s, kT0);
  EXPECT_EQ(c.size(), 0u);  // TTL 0: never stored
}

TEST(ResponseCacheTest, RecordsWhenItWasMade) {
  ResponseCache c;
  c.put("k", entry("faq"), 1h, kT0);
  const auto e = c.get("k", kT0 + 1min);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->created, kT0);
  EXPECT_EQ(e->expires, kT0 + 1h);
}

TEST(ResponseCacheTest, InvalidatesEveryEntryMentioningAProduct) {
  ResponseCache c;
  c.put("a", entry("pricing", {"mg-0004-v105"}), 1h, kT0);
  c.put("b", entry("availability", {"mg-0004-v105", "mg-0004-v104"}), 1h, kT0);
  c.put("c", entry("pricing", {"mg-0002-v1"}), 1h, kT0);
  EXPECT_EQ(c.invalidate_product("mg-0004-v105"), 2u);
  EXPECT_FALSE(c.get("a", kT0).has_value());
  EXPECT_FALSE(c.get("b", kT0).has_value());
  EXPECT_TRUE(c.get("c", kT0).has_value());
  EXPECT_EQ(c.invalidate_product("mg-0004-v104"), 0u);  // went with b
}

TEST(ResponseCacheTest, FlushesOneCategoryOrEverything) {
  ResponseCache c;
  c.put("a", entry("pricing"), 1h, kT0);
  c.put("b", entry("pricing"), 1h, kT0);
  c.put("c", entry("faq"), 1h, kT0);
  EXPECT_EQ(c.flush("pricing"), 2u);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.flush(""), 1u);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(ResponseCacheTest, EvictsTheLeastRecentlyUsedBeyondItsBounds) {
  ResponseCache c({.max_entries = 3, .max_bytes = 1 << 20});
  c.put("a", entry("faq"), 1h, kT0);
  c.put("b", entry("faq"), 1h, kT0);
  c.put("c", entry("faq"), 1h, kT0);
  ASSERT_TRUE(c.get("a", kT0).has_value());  // a is now the most recently used
  c.put("d", entry("faq"), 1h, kT0);
  EXPECT_FALSE(c.get("b", kT0).has_value());
  EXPECT_TRUE(c.get("a", kT0).has_value());
  EXPECT_EQ(c.size(), 3u);

  ResponseCache small({.max_entries = 100, .max_bytes = 1000});
  for (int i = 0; i < 20; ++i)
    small.put("k" + std::to_string(i), entry("faq", {}, std::string(100, 'x')), 1h, kT0);
  EXPECT_LE(small.bytes(), 1000u);
  EXPECT_TRUE(small.get("k19", kT0).has_value());
  EXPECT_FALSE(small.get("k0", kT0).has_value());
}

TEST(ResponseCacheTest, OrderAnswersAreKeyedPerUser) {
  const auto a = ResponseCache::key("order_status", "en", "where is my order 12345", "u-1001");
  const auto b = ResponseCache::key("order_status", "en", "where is my order 12345", "u-1003");
  EXPECT_NE(a, b);
  ResponseCache c;
  c.put(a, entry("order_status", {}, "shipped with Yamato"), 1h, kT0);
  EXPECT_FALSE(c.get(b, kT0).has_value());
}

TEST(ResponseCacheTest, SamplesTheOldestFirst) {
  ResponseCache c;
  c.put("old", entry("pricing"), 1h, kT0);
  c.put("new", entry("pricing"), 1h, kT0);
  c.put("faq", entry("faq"), 1h, kT0);
  const auto s = c.sample("pricing", 1);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].first, "old");
}

}  // namespace
}  // namespace ma::cache
