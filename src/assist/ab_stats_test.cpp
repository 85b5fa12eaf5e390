#include "assist/ab_stats.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "core/sim_clock.hpp"

namespace ma::assist {
namespace {

using namespace std::chrono_literals;
using V = DegradationVersion;

class AbStatsTest : public ::testing::Test {
 protected:
  AbVersionStats of(V v) {
    for (const AbVersionStats& s : ab_.snapshot()) {
      if (s.version == v) return s;
    }
    return AbVersionStats{v};
  }

  boost::asio::io_context io_;
  core::SimClock clock_{io_};
  AbStats ab_{clock_};
};

TEST_F(AbStatsTest, AMessageWithin60sOfADegradedReplyIsOneRetryOfThatReply) {
  ab_.on_degraded_reply("u:1", V::kV2);
  clock_.advance_by(59s);
  ab_.on_message("u:1");
  ab_.on_message("u:1");  // counted once per degraded reply
  const AbVersionStats s = of(V::kV2);
  EXPECT_EQ(s.degraded_replies, 1u);
  EXPECT_EQ(s.users, 1u);
  EXPECT_EQ(s.retried, 1u);
  EXPECT_EQ(s.abandoned, 0u);
}

TEST_F(AbStatsTest, AMessageAfterTheRetryWindowIsNeitherARetryNorAnAbandonment) {
  ab_.on_degraded_reply("u:1", V::kV3);
  clock_.advance_by(61s);
  ab_.on_message("u:1");
  clock_.advance_by(1h);
  const AbVersionStats s = of(V::kV3);
  EXPECT_EQ(s.retried, 0u);
  EXPECT_EQ(s.abandoned, 0u);
}

TEST_F(AbStatsTest, SilenceFor600sIsAnAbandonmentCountedOnlyOnceTheWindowHasPassed) {
  ab_.on_degraded_reply("u:1", V::kV2);
  clock_.advance_by(599s);
  EXPECT_EQ(of(V::kV2).abandoned, 0u);  // not yet: the user may still come back
  clock_.advance_by(1s);
  EXPECT_EQ(of(V::kV2).abandoned, 1u);
  // Coming back later changes nothing.
  ab_.on_message("u:1");
  EXPECT_EQ(of(V::kV2).abandoned, 1u);
  EXPECT_EQ(of(V::kV2).retried, 0u);
}

TEST_F(AbStatsTest, AUserWhoLeftTheQuestionIsNotAbandoned) {
  ab_.on_degraded_reply("u:1", V::kV3);
  ab_.on_degraded_reply("u:2", V::kV3);
  clock_.advance_by(10s);
  ab_.note_left_question("u:1");
  ab_.note_left_question("u:1");  // once per degraded reply
  ab_.note_left_question("u:9");  // no degraded reply: nothing
  clock_.advance_by(20min);
  const AbVersionStats s = of(V::kV3);
  EXPECT_EQ(s.left_question, 1u);
  EXPECT_EQ(s.abandoned, 1u);  // u:2 only
}

TEST_F(AbStatsTest, VersionsAreCountedApartAndUsersOnce) {
  for (int i = 0; i < 3; ++i) {
    ab_.on_degraded_reply("u:1", V::kV2);
    clock_.advance_by(1s);
  }
  ab_.on_degraded_reply("s:abc", V::kV3);
  EXPECT_EQ(of(V::kV2).users, 1u);
  EXPECT_EQ(of(V::kV2).degraded_replies, 3u);
  EXPECT_EQ(of(V::kV3).users, 1u);
  // A version nobody was shown is listed only when asked for.
  const V always[] = {V::kV1};
  EXPECT_EQ(ab_.snapshot().size(), 2u);
  EXPECT_EQ(ab_.snapshot(always).size(), 3u);
  EXPECT_EQ(ab_.snapshot(always).front().version, V::kV1);
}

TEST_F(AbStatsTest, ReplacedFeedbackMovesItsCountInsteadOfAddingOne) {
  ab_.on_feedback(V::kV3, {}, {true, std::nullopt});
  EXPECT_EQ(of(V::kV3).helpful, 1u);
  ab_.on_feedback(V::kV3, {true, std::nullopt}, {false, true});
  AbVersionStats s = of(V::kV3);
  EXPECT_EQ(s.helpful, 0u);
  EXPECT_EQ(s.not_helpful, 1u);
  EXPECT_EQ(s.understood, 1u);
  ab_.on_feedback(V::kV3, {false, true}, {false, true});  // the same again: no change
  s = of(V::kV3);
  EXPECT_EQ(s.not_helpful, 1u);
  EXPECT_EQ(s.understood, 1u);
  EXPECT_EQ(s.not_understood, 0u);
}

TEST_F(AbStatsTest, OpenWindowsAreBoundedAndTheDroppedOnesCounted) {
  AbStats small(clock_, {.max_active_users = 2, .max_seen_users = 3});
  small.on_degraded_reply("u:1", V::kV2);
  small.on_degraded_reply("u:2", V::kV2);
  small.on_degraded_reply("u:3", V::kV2);  // u:1 is dropped, its window still open
  EXPECT_EQ(small.untracked(), 1u);
  small.on_message("u:1");  // no longer tracked: not a retry
  small.on_message("u:3");
  small.on_degraded_reply("u:4", V::kV2);  // a fourth distinct user: past max_seen_users
  const auto s = small.snapshot().front();
  EXPECT_EQ(s.retried, 1u);
  EXPECT_EQ(s.users, 3u);
  EXPECT_EQ(s.degraded_replies, 4u);
  EXPECT_TRUE(small.users_capped());
}

TEST_F(AbStatsTest, ManyThreadsCountEveryEvent) {
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string key = "u:" + std::to_string(t * kEach + i);
        ab_.on_degraded_reply(key, V::kV2);
        ab_.on_message(key);  // at the same virtual instant: a retry
      }
    });
  }
  for (auto& t : threads) t.join();
  const AbVersionStats s = of(V::kV2);
  EXPECT_EQ(s.degraded_replies, static_cast<std::uint64_t>(kThreads * kEach));
  EXPECT_EQ(s.retried, static_cast<std::uint64_t>(kThreads * kEach));
  EXPECT_EQ(s.users, static_cast<std::uint64_t>(kThreads * kEach));
}

}  // namespace
}  // namespace ma::assist
