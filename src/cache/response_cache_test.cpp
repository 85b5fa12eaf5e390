#include "cache/response_cache.hpp"

#include <gtest/gtest.h>

#include <map>

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

TEST(ResponseCacheTest, AgreesWithAMapThroughPutsErasesAndInvalidations) {
  // Thousands of keys through the flat index: replaced, erased, invalidated by product and
  // refreshed, checked against a plain map of what each key should hold.
  ResponseCache c;
  std::map<std::string, std::string> ref;
  std::uint64_t x = 42;
  auto next = [&x](std::uint64_t n) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (x >> 33) % n;
  };
  for (int i = 0; i < 20'000; ++i) {
    const std::string key = "pricing|ja||question " + std::to_string(next(3'000));
    const std::string product = "p" + std::to_string(next(50));
    switch (next(4)) {
      case 0:
      case 1: {
        const std::string text = "answer " + std::to_string(i) + " " + product;
        c.put(key, entry("pricing", {product}, text), 1h, kT0);
        ref[key] = text;
        break;
      }
      case 2:
        EXPECT_EQ(c.erase(key), ref.erase(key) == 1);
        break;
      default: {
        const std::size_t n = c.invalidate_product(product);
        const std::size_t want =
            std::erase_if(ref, [&](const auto& kv) { return kv.second.ends_with(" " + product); });
        EXPECT_EQ(n, want);
      }
    }
    ASSERT_EQ(c.size(), ref.size()) << "step " << i;
  }
  for (int k = 0; k < 3'000; ++k) {
    const std::string key = "pricing|ja||question " + std::to_string(k);
    const auto got = c.get(key, kT0 + 1min);
    const auto it = ref.find(key);
    ASSERT_EQ(got.has_value(), it != ref.end()) << key;
    if (got) {
      EXPECT_EQ(got->text, it->second);
      EXPECT_TRUE(c.refresh(key, it->second, 2h, kT0 + 1min));
      EXPECT_FALSE(c.refresh(key, "another text", 2h, kT0 + 1min));
    }
  }
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
