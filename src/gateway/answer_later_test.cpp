#include "gateway/answer_later.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "core/sim_clock.hpp"
#include "core/text.hpp"

namespace ma::gateway {
namespace {

using namespace std::chrono_literals;

// A stand-in for the server's HMAC: a keyed hash, enough to tell keys and payloads apart.
TicketSigner signer(std::string key) {
  return [key = std::move(key)](std::string_view payload) {
    return std::to_string(core::fnv1a(payload, core::fnv1a(key)));
  };
}

class AnswerLaterTest : public ::testing::Test {
 protected:
  AnswerLaterConfig config() {
    AnswerLaterConfig c;
    c.max_per_owner = 3;
    c.max_total = 5;
    c.ticket_ttl = 600s;
    c.max_wait = 24h;
    return c;
  }
  std::string ticket(AnswerLater& s, std::string_view owner, std::string_view q) {
    auto t = s.offer(owner, q, clock_.wall_now());
    EXPECT_TRUE(t.has_value());
    return t.value_or("");
  }
  core::Result<std::size_t> leave(AnswerLater& s, std::string_view owner, std::string_view t) {
    return s.leave(owner, t, clock_.wall_now(), clock_.now());
  }
  // Answers the next question with a frame naming it; returns its question.
  std::string answer_next(AnswerLater& s) {
    auto q = s.next(clock_.now());
    EXPECT_TRUE(q.has_value());
    if (!q) return {};
    EXPECT_TRUE(s.answered(q->id, "answer to " + q->question, clock_.now()));
    return q->question;
  }

  boost::asio::io_context io_;
  core::SimClock clock_{io_};
  AnswerLater store_{config(), signer("secret")};
};

TEST_F(AnswerLaterTest, LeavesAQuestionWithItsTicketAndHandsItOutForAnAnswer) {
  const std::string t = ticket(store_, "s:alice", "Is ONE PIECE 105 in stock?");
  // The ticket carries the question but not the owner (the session stays in its cookie).
  EXPECT_EQ(t.find("alice"), std::string::npos);
  auto held = leave(store_, "s:alice", t);
  ASSERT_TRUE(held.ok()) << held.error().message;
  EXPECT_EQ(*held, 1u);
  auto q = store_.next(clock_.now());
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->owner, "s:alice");
  EXPECT_EQ(q->question, "Is ONE PIECE 105 in stock?");
  // Being tried: not handed out twice.
  EXPECT_FALSE(store_.next(clock_.now()).has_value());
  store_.not_answered(q->id);
  auto again = store_.next(clock_.now());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->id, q->id);
}

TEST_F(AnswerLaterTest, RefusesATicketOfAnotherOwner) {
  const std::string t = ticket(store_, "s:alice", "where is my order?");
  auto r = leave(store_, "s:mallory", t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kLaterInvalid);
  auto u = leave(store_, "u:alice", t);  // another kind of owner with the same name
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, kLaterInvalid);
  EXPECT_EQ(store_.counts().held, 0u);
  EXPECT_EQ(store_.counts().refused_invalid, 2u);
}

TEST_F(AnswerLaterTest, RefusesATamperedOrForeignTicket) {
  const std::string t = ticket(store_, "s:alice", "price of vol 3?");
  // Another question under the same MAC.
  const auto dot = t.find('.', 4);
  std::string swapped = t.substr(0, dot + 1) + "cHJpY2Ugb2Ygdm9sIDQ_" + t.substr(t.rfind('.'));
  // A later expiry under the same MAC.
  std::string later = t;
  later[4] = later[4] == '9' ? '8' : '9';
  // Signed with another secret.
  AnswerLater other(config(), signer("another secret"));
  const std::string foreign = other.offer("s:alice", "price of vol 3?", clock_.wall_now()).value();
  for (const std::string& bad :
       {swapped, later, foreign, std::string("lt1.garbage"), std::string(""), t + "x"}) {
    auto r = leave(store_, "s:alice", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, kLaterInvalid) << bad;
  }
  EXPECT_TRUE(leave(store_, "s:alice", t).ok());
}

TEST_F(AnswerLaterTest, RefusesAnExpiredTicket) {
  const std::string t = ticket(store_, "s:alice", "hello?");
  clock_.advance_by(599s);
  const std::string fresh = ticket(store_, "s:alice", "hello again?");
  clock_.advance_by(1s);
  auto r = leave(store_, "s:alice", t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kLaterInvalid);
  EXPECT_TRUE(leave(store_, "s:alice", fresh).ok());
}

TEST_F(AnswerLaterTest, BoundsPerOwnerAndInTotal) {
  for (int i = 0; i < 3; ++i) {
    auto r = leave(store_, "s:a", ticket(store_, "s:a", "q" + std::to_string(i)));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, static_cast<std::size_t>(i + 1));
  }
  // Full for this owner: no ticket is offered, and one issued before is refused.
  const std::string early = store_.offer("s:b", "fits", clock_.wall_now()).value();
  AnswerLater twin(config(), signer("secret"));  // the same secret: its tickets verify here
  const std::string fourth = twin.offer("s:a", "q3", clock_.wall_now()).value();
  EXPECT_FALSE(store_.offer("s:a", "q3", clock_.wall_now()).has_value());
  auto r = leave(store_, "s:a", fourth);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kLaterFull);
  // Another owner still may, up to the total of 5.
  EXPECT_TRUE(leave(store_, "s:b", early).ok());
  EXPECT_TRUE(leave(store_, "s:b", ticket(store_, "s:b", "second")).ok());
  EXPECT_FALSE(store_.offer("s:c", "third owner", clock_.wall_now()).has_value());
  auto total = leave(store_, "s:c", twin.offer("s:c", "third owner", clock_.wall_now()).value());
  ASSERT_FALSE(total.ok());
  EXPECT_EQ(total.error().code, kLaterFull);
  EXPECT_EQ(store_.counts().refused_full, 2u);
  // An answer waiting for delivery still counts; once taken, there is room again.
  answer_next(store_);
  EXPECT_FALSE(store_.offer("s:c", "third owner", clock_.wall_now()).has_value());
  EXPECT_EQ(store_.take("s:a").size(), 1u);
  EXPECT_TRUE(store_.offer("s:c", "third owner", clock_.wall_now()).has_value());
}

TEST_F(AnswerLaterTest, TheSameTicketTwiceIsHeldOnce) {
  const std::string t = ticket(store_, "s:a", "double click");
  EXPECT_EQ(leave(store_, "s:a", t).value_or(0), 1u);
  EXPECT_EQ(leave(store_, "s:a", t).value_or(0), 1u);
  EXPECT_EQ(store_.counts().held, 1u);
  EXPECT_EQ(store_.counts().left, 1u);
}

TEST_F(AnswerLaterTest, AnswersAreDeliveredOnceOldestFirst) {
  for (std::string q : {"first", "second"})
    ASSERT_TRUE(leave(store_, "s:a", ticket(store_, "s:a", q)).ok());
  ASSERT_TRUE(leave(store_, "s:b", ticket(store_, "s:b", "other")).ok());
  // Oldest first, whoever left it.
  EXPECT_EQ(answer_next(store_), "first");
  EXPECT_EQ(answer_next(store_), "second");
  EXPECT_EQ(answer_next(store_), "other");
  EXPECT_FALSE(store_.next(clock_.now()).has_value());
  EXPECT_EQ(store_.take("s:a"), (std::vector<std::string>{"answer to first", "answer to second"}));
  EXPECT_TRUE(store_.take("s:a").empty());  // once only
  EXPECT_EQ(store_.take("s:b"), std::vector<std::string>{"answer to other"});
  const auto c = store_.counts();
  EXPECT_EQ(c.answered, 3u);
  EXPECT_EQ(c.delivered, 3u);
  EXPECT_EQ(c.held + c.ready, 0u);
}

// A question that keeps coming back degraded does not hold up those left after it: the
// questions are tried in turn, oldest first, and the one that failed comes round again.
TEST_F(AnswerLaterTest, ADegradedAttemptLetsTheNextQuestionGoFirst) {
  ASSERT_TRUE(leave(store_, "s:a", ticket(store_, "s:a", "older")).ok());
  ASSERT_TRUE(leave(store_, "s:b", ticket(store_, "s:b", "newer")).ok());
  for (int round = 0; round < 3; ++round) {
    auto q = store_.next(clock_.now());
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->question, "older");
    store_.not_answered(q->id);
    q = store_.next(clock_.now());
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->question, "newer");
    store_.not_answered(q->id);
  }
  // Round robin goes on from the last one tried ("newer"): the one left since comes next.
  ASSERT_TRUE(leave(store_, "s:c", ticket(store_, "s:c", "newest")).ok());
  EXPECT_EQ(answer_next(store_), "newest");
  EXPECT_EQ(answer_next(store_), "older");
  EXPECT_EQ(answer_next(store_), "newer");
}

TEST_F(AnswerLaterTest, QuestionsAndAnswersWaitAtMostMaxWait) {
  ASSERT_TRUE(leave(store_, "s:a", ticket(store_, "s:a", "old")).ok());
  clock_.advance_by(1h);
  ASSERT_TRUE(leave(store_, "s:b", ticket(store_, "s:b", "answered, never fetched")).ok());
  clock_.advance_by(23h);
  // "old" waited 24 h: dropped, never handed out.
  EXPECT_EQ(answer_next(store_), "answered, never fetched");
  EXPECT_EQ(store_.counts().expired_questions, 1u);
  EXPECT_EQ(store_.waiting("s:a"), 0u);
  clock_.advance_by(24h);
  (void)store_.next(clock_.now());  // a pass drops the answer nobody came back for
  EXPECT_EQ(store_.counts().expired_answers, 1u);
  EXPECT_TRUE(store_.take("s:b").empty());
  EXPECT_EQ(store_.counts().ready, 0u);
}

TEST_F(AnswerLaterTest, ADroppedQuestionBeingTriedKeepsNoAnswer) {
  ASSERT_TRUE(leave(store_, "s:a", ticket(store_, "s:a", "slow")).ok());
  auto q = store_.next(clock_.now());
  ASSERT_TRUE(q.has_value());
  clock_.advance_by(24h);
  store_.not_answered(q->id);
  EXPECT_FALSE(store_.next(clock_.now()).has_value());
  EXPECT_FALSE(store_.answered(q->id, "too late", clock_.now()));
  EXPECT_TRUE(store_.take("s:a").empty());
}

TEST_F(AnswerLaterTest, DisabledOffersNothingAndRefuses) {
  AnswerLaterConfig c = config();
  c.enabled = false;
  AnswerLater off(c, signer("secret"));
  EXPECT_FALSE(off.offer("s:a", "q", clock_.wall_now()).has_value());
  auto r = off.leave("s:a", ticket(store_, "s:a", "q"), clock_.wall_now(), clock_.now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kLaterDisabled);
  // Nobody to answer: no ticket.
  EXPECT_FALSE(store_.offer("", "q", clock_.wall_now()).has_value());
}

}  // namespace
}  // namespace ma::gateway
