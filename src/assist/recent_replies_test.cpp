#include "assist/recent_replies.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "core/sim_clock.hpp"

namespace ma::assist {
namespace {

using namespace std::chrono_literals;
using V = DegradationVersion;

class RecentRepliesTest : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
  core::SimClock clock_{io_};
};

TEST_F(RecentRepliesTest, FeedbackIsTakenOnlyFromTheUserWhoGotTheReply) {
  RecentReplies recent(clock_);
  recent.remember("1-aaa-bbb", "u:1", V::kV3, true);
  EXPECT_FALSE(recent.give_feedback("1-aaa-bbb", "u:2", {true, std::nullopt}));
  EXPECT_FALSE(recent.give_feedback("1-zzz-zzz", "u:1", {true, std::nullopt}));
  EXPECT_FALSE(recent.give_feedback("1-aaa-bbb", "", {true, std::nullopt}));
  const auto c = recent.give_feedback("1-aaa-bbb", "u:1", {true, std::nullopt});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->version, V::kV3);
  EXPECT_TRUE(c->degraded);
  EXPECT_EQ(c->before, Feedback{});
  EXPECT_EQ(c->after, (Feedback{true, std::nullopt}));
}

TEST_F(RecentRepliesTest, ASecondAnswerReplacesTheFirstAndKeepsWhatItLeavesOut) {
  RecentReplies recent(clock_);
  recent.remember("t1", "s:x", std::nullopt, false);
  ASSERT_TRUE(recent.give_feedback("t1", "s:x", {true, std::nullopt}));
  const auto c = recent.give_feedback("t1", "s:x", {std::nullopt, false});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->before, (Feedback{true, std::nullopt}));
  EXPECT_EQ(c->after, (Feedback{true, false}));
  const auto d = recent.give_feedback("t1", "s:x", {false, std::nullopt});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->after, (Feedback{false, false}));
  EXPECT_FALSE(d->version.has_value());
}

TEST_F(RecentRepliesTest, RepliesAreForgottenAfterTheTtlAndBeyondTheBound) {
  RecentReplies recent(clock_, 3, 1h);
  recent.remember("t1", "u:1", V::kV2, true);
  clock_.advance_by(1h - 1s);
  EXPECT_TRUE(recent.give_feedback("t1", "u:1", {true, std::nullopt}));
  clock_.advance_by(1s);
  EXPECT_FALSE(recent.give_feedback("t1", "u:1", {true, std::nullopt}));
  for (int i = 2; i <= 5; ++i) recent.remember("t" + std::to_string(i), "u:1", V::kV2, true);
  EXPECT_EQ(recent.size(), 3u);
  EXPECT_FALSE(recent.give_feedback("t2", "u:1", {true, std::nullopt}));  // the oldest, dropped
  EXPECT_TRUE(recent.give_feedback("t5", "u:1", {true, std::nullopt}));
}

}  // namespace
}  // namespace ma::assist
