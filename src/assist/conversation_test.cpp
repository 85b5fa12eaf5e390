#include "assist/conversation.hpp"

#include <gtest/gtest.h>

namespace ma::assist {
namespace {

using namespace std::chrono_literals;

TEST(ConversationMemoryTest, KeepsTheLastExchangesInOrder) {
  ConversationMemory m({.max_turns = 4});
  const core::TimePoint t0{};
  EXPECT_TRUE(m.recent("s1", t0).empty());
  m.remember("s1", "q1", "a1", t0);
  m.remember("s1", "q2", "a2", t0 + 1s);
  m.remember("s1", "q3", "a3", t0 + 2s);
  const auto turns = m.recent("s1", t0 + 3s);
  ASSERT_EQ(turns.size(), 4u);
  EXPECT_EQ(turns[0].role, "user");
  EXPECT_EQ(turns[0].text, "q2");
  EXPECT_EQ(turns[3].role, "assistant");
  EXPECT_EQ(turns[3].text, "a3");
  EXPECT_TRUE(m.recent("s2", t0).empty());  // conversations do not mix
}

TEST(ConversationMemoryTest, AnIdleConversationStartsAfresh) {
  ConversationMemory m({.idle_ttl = 30min});
  const core::TimePoint t0{};
  m.remember("s1", "q1", "a1", t0);
  EXPECT_EQ(m.recent("s1", t0 + 29min).size(), 2u);
  EXPECT_TRUE(m.recent("s1", t0 + 31min).empty());
  m.remember("s1", "q2", "a2", t0 + 62min);
  EXPECT_EQ(m.recent("s1", t0 + 62min).size(), 2u);
}

TEST(ConversationMemoryTest, BoundedInConversationsAndTurnLength) {
  ConversationMemory m({.max_chars_per_turn = 7, .max_conversations = 16});
  const core::TimePoint t0{};
  for (int i = 0; i < 1000; ++i) m.remember("s" + std::to_string(i), "q", "a", t0);
  EXPECT_LE(m.size(), 16u);
  EXPECT_TRUE(m.recent("s0", t0).empty());     // the least recently used went first
  m.remember("long", "ワンピース", "ok", t0);  // 15 bytes: clipped at a character boundary
  EXPECT_EQ(m.recent("long", t0)[0].text, "ワン");
}

}  // namespace
}  // namespace ma::assist
