#include "core/flat_table.hpp"

#include <gtest/gtest.h>

#include <unordered_map>

#include "core/random.hpp"

namespace ma::core {
namespace {

TEST(FlatTableTest, AgreesWithAStandardMapThroughGrowthAndRebuilds) {
  FlatTable<int> t(16);
  std::unordered_map<std::uint64_t, int> ref;
  Random rng(7);
  // Keys 0 and 1 included: the table reserves a mixed value, never a caller's key.
  for (std::uint64_t k : {0ULL, 1ULL, ~0ULL}) {
    t.find_or_insert(k, [] { return 0; }) += 1;
    ref[k] += 1;
  }
  for (int i = 0; i < 200'000; ++i) {
    const std::uint64_t k = rng.below(50'000) * 0x9e3779b97f4a7c15ULL;
    t.find_or_insert(k, [] { return 0; }) += 1;
    ref[k] += 1;
    if (i % 50'000 == 49'999) {
      // Drop the odd counts, in both.
      t.rebuild_without([](int v) { return v % 2 == 1; });
      std::erase_if(ref, [](const auto& kv) { return kv.second % 2 == 1; });
    }
  }
  ASSERT_EQ(t.size(), ref.size());
  for (const auto& [k, v] : ref) {
    const int* got = t.find(k);
    ASSERT_NE(got, nullptr) << k;
    EXPECT_EQ(*got, v) << k;
  }
  EXPECT_EQ(t.find(12345), nullptr);
  EXPECT_LE(t.size() * 4, t.capacity() * 3);  // never more than 3/4 full
}

TEST(FlatTableTest, EraseKeepsEveryOtherEntryFindableInACrowdedTable) {
  // A small table near its load limit (long probe runs that wrap around the end), random
  // inserts and erases, checked against a standard map after every step.
  // At most 11 keys in 16 slots: the table never grows, and stays up to 11/16 full.
  FlatTable<int> t(16);
  std::unordered_map<std::uint64_t, int> ref;
  Random rng(11);
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t k = rng.below(11);
    if (rng.chance(0.5)) {
      t.find_or_insert(k, [] { return 0; }) += 1;
      ref[k] += 1;
    } else {
      EXPECT_EQ(t.erase(k), ref.erase(k) == 1) << k;
    }
    ASSERT_EQ(t.size(), ref.size());
    if (i % 97 == 0) {
      for (std::uint64_t q = 0; q < 11; ++q) {
        const int* got = t.find(q);
        const auto it = ref.find(q);
        ASSERT_EQ(got != nullptr, it != ref.end()) << q << " at step " << i;
        if (got != nullptr) {
          ASSERT_EQ(*got, it->second);
        }
      }
    }
  }
  EXPECT_FALSE(t.erase(1'000));
  EXPECT_EQ(t.capacity(), 16u);
}

TEST(FlatTableTest, RebuildShrinksToTheSurvivors) {
  FlatTable<int> t;
  for (int i = 0; i < 100'000; ++i)
    t.find_or_insert(static_cast<std::uint64_t>(i), [i] { return i; });
  const std::size_t before = t.capacity();
  int asked = 0;
  t.rebuild_without([&asked](int v) {
    ++asked;
    return v >= 10;
  });
  EXPECT_EQ(asked, 100'000);  // once per entry
  EXPECT_EQ(t.size(), 10u);
  EXPECT_LT(t.capacity(), before / 100);
  for (int i = 0; i < 10; ++i) ASSERT_NE(t.find(static_cast<std::uint64_t>(i)), nullptr);
  EXPECT_EQ(t.find(10), nullptr);
}

}  // namespace
}  // namespace ma::core
