// "We'll answer when we're back" across a fleet (issue 22; server/fleet_later.hpp,
// state/redis/redis_later.hpp): real servers and one real redis-server. A question left on
// one server is answered by another -- after the first is stopped -- and delivered once, on a
// third; with the owner's WebSockets open on two servers each answer arrives on exactly one;
// the bounds hold fleet-wide; with Redis down a question is refused (503), not taken and
// lost. The scripts themselves: a claim's lease lapses, the first answer wins, expiry.
//
// Waits are bounded event waits (the servers' own counters, WebSocket frames): no fixed sleep.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "core/real_clock.hpp"
#include "integration/redis_server.hpp"
#include "integration/test_client.hpp"
#include "server/app.hpp"
#include "server/server.hpp"
#include "state/redis/redis_later.hpp"

namespace ma::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::http_request;
using testing::WsClient;
namespace json = boost::json;

constexpr const char* kAdmin = "fleet-later-admin";
constexpr auto kWait = 15s;

struct Node {
  std::unique_ptr<App> app;
  std::unique_ptr<Server> srv;
  std::uint16_t port = 0;
  ~Node() {
    if (srv) {
      srv->shutdown();
      srv->join();
    }
  }
};

std::string session_of_cookie(const std::string& set_cookie) {
  const auto start = set_cookie.find("ma_session=");
  if (start == std::string::npos) return {};
  const auto value = start + 11;
  return set_cookie.substr(value, set_cookie.find(';', value) - value);
}

template <class Pred>
bool until(Pred holds, Clock::duration limit = kWait) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (holds()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return holds();
}

class FleetLaterTest : public ::testing::Test {
 protected:
  std::unique_ptr<Node> start(const std::string& id,
                              const std::function<void(AppConfig&)>& more = {}) {
    AppConfig cfg = testing::test_config();
    cfg.redis_url = redis_.url();
    cfg.fleet_name = fleet_;
    cfg.server_id = id;
    cfg.server.admin_token = kAdmin;
    for (auto& plan : cfg.admission.plans) plan = {10'000, 10'000, 0};
    cfg.admission.per_source = {10'000, 10'000, 0};
    // Breakers that open after a few failures and probe a second later; attempts paced at
    // 200 ms (as later_test.cpp).
    cfg.pipeline.breaker.minimum_calls = 2;
    cfg.pipeline.breaker.wait_in_open = 1s;
    cfg.pipeline.stagger_max = 20ms;
    cfg.answer_later.retry_interval = 200ms;
    if (more) more(cfg);
    auto app = App::create(cfg, clock_);
    EXPECT_TRUE(app.ok()) << (app.ok() ? "" : app.error().message);
    auto n = std::make_unique<Node>();
    n->app = std::move(app).value();
    n->srv = std::make_unique<Server>(*n->app, cfg.server);
    auto port = n->srv->listen();
    EXPECT_TRUE(port.ok());
    n->port = *port;
    n->srv->start();
    return n;
  }
  static testing::HttpResult admin(const Node& n, const std::string& method,
                                   const std::string& path, const std::string& body = "") {
    return http_request(n.port, method, path, body,
                        {{"Authorization", std::string("Bearer ") + kAdmin}});
  }
  static void outage(const Node& n, bool on) {
    ASSERT_EQ(admin(n, "POST", "/admin/chaos",
                    on ? R"({"model":"all","outage":true})" : R"({"clear":true})")
                  .status,
              200);
  }
  // A new anonymous session (the handshake's cookie), with its WebSocket.
  static std::unique_ptr<WsClient> open(const Node& n, std::string& session) {
    std::map<std::string, std::string> h;
    if (!session.empty()) h["Cookie"] = "ma_session=" + session;
    auto ws = std::make_unique<WsClient>(n.port, "/v1/ws", h);
    if (session.empty()) session = session_of_cookie(ws->response_header("Set-Cookie"));
    EXPECT_FALSE(session.empty());
    EXPECT_EQ(ws->greeting().at("type"), "status");  // the first frame, always
    return ws;
  }
  // A degraded reply's ticket for `session`'s question, from `n` (its models down).
  static std::string ticket(const Node& n, const std::string& session,
                            const std::string& question) {
    auto r = http_request(n.port, "POST", "/v1/chat",
                          json::serialize(json::object{{"message", question}}),
                          {{"Cookie", "ma_session=" + session}});
    EXPECT_EQ(r.status, 200) << r.body;
    const auto v = r.json();
    EXPECT_EQ(v.at("tier"), "degraded") << r.body;
    if (!v.as_object().contains("later")) {
      ADD_FAILURE() << "no ticket: " << r.body;
      return {};
    }
    return std::string(v.at("later").at("ticket").as_string());
  }
  static testing::HttpResult leave(const Node& n, const std::string& session,
                                   const std::string& ticket) {
    return http_request(n.port, "POST", "/v1/later",
                        json::serialize(json::object{{"ticket", ticket}}),
                        {{"Cookie", "ma_session=" + session}});
  }
  // Frames up to the reply to a probe (an answerLater with a bad ticket): what was queued on
  // the connection before it. Frames on one connection are in order.
  static std::vector<json::object> drain(WsClient& ws) {
    ws.send(R"({"action":"answerLater","ticket":"probe","request_id":"probe"})");
    std::vector<json::object> seen;
    for (;;) {
      json::object f = ws.receive(10s).as_object();
      if (f.contains("request_id") && f.at("request_id") == "probe") return seen;
      seen.push_back(std::move(f));
    }
  }
  static gateway::LaterStore::Counts counts(const Node& n) {
    // The server's own store, as its metrics read it.
    return n.srv == nullptr ? gateway::LaterStore::Counts{} : later_of(n).counts();
  }
  static gateway::LaterStore& later_of(const Node& n) { return n.srv->later(); }

  testing::RedisServer redis_;
  std::string fleet_ = "later-" + std::to_string(::getpid());
  core::RealClock clock_;
};

TEST_F(FleetLaterTest, AQuestionLeftOnAStoppedServerIsAnsweredByAnotherAndDeliveredOnAThird) {
  auto a = start("a"), b = start("b"), c = start("c");
  for (const Node* n : {a.get(), b.get(), c.get()}) outage(*n, true);
  std::string session;
  auto ws_c = open(*c, session);  // the owner's page, on C
  const std::string question = "Tell me something fun about manga";
  const std::string t = ticket(*a, session, question);
  const auto left = leave(*a, session, t);
  ASSERT_EQ(left.status, 202) << left.body;
  EXPECT_EQ(left.json().at("held").as_int64(), 1);
  // The question is in Redis, not in A's memory: A goes.
  a.reset();
  EXPECT_EQ(later_of(*b).counts().held, 1u);
  // B's models come back; B answers, C hands the answer to the owner's open connection.
  outage(*b, false);
  json::object f;
  const auto until_answer = Clock::now() + kWait;
  for (;;) {
    ASSERT_LT(Clock::now(), until_answer) << "no answer on C within 15 s";
    f = ws_c->receive(kWait).as_object();
    if (f.at("type") == "later_answer") break;
  }
  EXPECT_EQ(f.at("question").as_string(), question);
  EXPECT_NE(f.at("tier"), "degraded") << json::serialize(f);
  EXPECT_FALSE(f.at("degraded").as_bool());
  EXPECT_EQ(counts(*b).answered, 1u);
  EXPECT_EQ(counts(*c).answered, 0u);  // C's models are down
  EXPECT_EQ(counts(*c).delivered, 1u);
  // Once: nothing more on C's connection, nothing for a GET on B, nothing left in Redis.
  for (const auto& g : drain(*ws_c)) EXPECT_NE(g.at("type"), "later_answer") << json::serialize(g);
  const auto got =
      http_request(b->port, "POST", "/v1/later/answers", "", {{"Cookie", "ma_session=" + session}});
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, R"({"answers":[]})");
  EXPECT_EQ(counts(*b).held, 0u);
  EXPECT_EQ(counts(*b).ready, 0u);
  EXPECT_EQ(later_of(*b).waiting("s:" + session), 0u);
}

TEST_F(FleetLaterTest, EachAnswerReachesExactlyOneOfTheOwnersWebSocketsOnTwoServers) {
  auto a = start("a"), b = start("b"), c = start("c");
  for (const Node* n : {a.get(), b.get(), c.get()}) outage(*n, true);
  std::string session;
  auto ws_a = open(*a, session);
  auto ws_c = open(*c, session);
  const std::set<std::string> questions = {"Tell me something fun about manga",
                                           "What makes a good manga opening chapter?"};
  std::vector<std::string> tickets;
  for (const auto& q : questions) tickets.push_back(ticket(*a, session, q));
  for (const auto& t : tickets) ASSERT_EQ(leave(*c, session, t).status, 202);
  outage(*b, false);  // only B can answer
  ASSERT_TRUE(until([&] { return counts(*a).delivered + counts(*c).delivered >= 2; }))
      << "two answers were not delivered within 15 s";
  std::multiset<std::string> answered;
  for (WsClient* ws : {ws_a.get(), ws_c.get()}) {
    for (const auto& f : drain(*ws)) {
      if (f.at("type") == "later_answer")
        answered.insert(std::string(f.at("question").as_string()));
    }
  }
  EXPECT_EQ(answered, std::multiset<std::string>(questions.begin(), questions.end()));
  EXPECT_EQ(counts(*a).delivered + counts(*b).delivered + counts(*c).delivered, 2u);
  EXPECT_EQ(counts(*b).answered, 2u);
  EXPECT_EQ(counts(*a).ready, 0u);
}

TEST_F(FleetLaterTest, TheBoundsHoldFleetWideAndWithRedisDownNothingIsTaken) {
  const auto small = [](AppConfig& c) {
    c.answer_later.max_per_owner = 2;
    c.answer_later.max_total = 3;
  };
  auto a = start("a", small), b = start("b", small);
  for (const Node* n : {a.get(), b.get()}) outage(*n, true);
  std::string s1, s2, s3;
  auto w1 = open(*a, s1), w2 = open(*a, s2), w3 = open(*b, s3);
  // Every ticket first: a reply offers none once its owner (or the fleet) is full.
  const std::string t1a = ticket(*a, s1, "Tell me something fun about manga");
  const std::string t1b = ticket(*b, s1, "What makes a good manga opening chapter?");
  const std::string t1c = ticket(*a, s1, "Why do manga read right to left?");
  const std::string t2 = ticket(*b, s2, "Tell me something fun about manga");
  const std::string t3 = ticket(*a, s3, "Tell me something fun about manga");

  ASSERT_EQ(leave(*a, s1, t1a).status, 202);
  const auto second = leave(*b, s1, t1b);
  ASSERT_EQ(second.status, 202) << second.body;
  EXPECT_EQ(second.json().at("held").as_int64(), 2);  // B counts the one left on A
  const auto third = leave(*b, s1, t1c);
  EXPECT_EQ(third.status, 409) << third.body;
  EXPECT_EQ(third.json().at("error"), "later_full");
  EXPECT_NE(third.body.find("you already have 2"), std::string::npos) << third.body;
  // The same ticket again, on the other server: held once.
  const auto again = leave(*b, s1, t1a);
  EXPECT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(again.json().at("held").as_int64(), 2);
  ASSERT_EQ(leave(*a, s2, t2).status, 202);  // the third in all
  const auto full = leave(*a, s3, t3);
  EXPECT_EQ(full.status, 409) << full.body;
  EXPECT_EQ(full.json().at("error"), "later_full");
  EXPECT_EQ(full.json().at("message"), "too many questions are waiting for an answer");
  EXPECT_EQ(counts(*a).held, 3u);
  EXPECT_EQ(counts(*a).refused_full + counts(*b).refused_full, 2u);

  // Redis gone: refused with its own code, not accepted and lost.
  redis_.kill();
  const auto down = leave(*b, s3, t3);
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(down.json().at("error"), "later_unavailable");
  EXPECT_EQ(counts(*b).refused_unavailable, 1u);
  const auto ws_down = [&] {
    w3->send(json::serialize(
        json::object{{"action", "answerLater"}, {"ticket", t3}, {"request_id", "x"}}));
    for (;;) {
      json::object f = w3->receive(10s).as_object();
      if (f.contains("request_id") && f.at("request_id") == "x") return f;
    }
  }();
  EXPECT_EQ(ws_down.at("code"), "later_unavailable") << json::serialize(ws_down);
  // Shown on the page as it is: never an invitation to resend (seed incident 5).
  EXPECT_EQ(std::string(ws_down.at("message").as_string()).find("try again"), std::string::npos)
      << json::serialize(ws_down);
}

// The scripts, on a real Redis, without servers.
class RedisLaterTest : public ::testing::Test {
 protected:
  RedisLaterTest()
      : client_(state::RedisOptions{*state::RedisUrl::parse(redis_.url())}),
        later_(client_, "rl-" + std::to_string(::getpid()), "a") {}
  testing::RedisServer redis_;
  state::RedisClient client_;
  state::RedisLater later_;
};

TEST_F(RedisLaterTest, AClaimLapsesWithItsLeaseAndTheFirstAnswerWins) {
  auto held = later_.leave("s:o", "q1", "mac1", 3, 10);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->left, state::RedisLater::Left::kHeld);
  const auto first = later_.claim("t1", 200, 60'000);
  ASSERT_TRUE(first.ok() && first->claimed);
  EXPECT_EQ(first->claimed->owner, "s:o");
  EXPECT_EQ(first->claimed->question, "q1");
  const std::uint64_t id = first->claimed->id;
  // Being tried: nobody else gets it...
  EXPECT_FALSE(later_.claim("t2", 200, 60'000)->claimed);
  // ...until the lease lapses (the server died mid-attempt): then the next server does.
  std::optional<state::RedisLater::Claimed> again;
  ASSERT_TRUE(until([&] {
    again = later_.claim("t3", 60'000, 60'000)->claimed;
    return again.has_value();
  }));
  EXPECT_EQ(again->id, id);
  EXPECT_FALSE(*later_.release(id, "t1"));  // the lapsed claim frees nothing
  EXPECT_FALSE(later_.claim("t4", 60'000, 60'000)->claimed);
  // Both answer: the first written wins, the second is dropped.
  EXPECT_TRUE(*later_.answered(id, "frame-1"));
  EXPECT_FALSE(*later_.answered(id, "frame-2"));
  EXPECT_EQ(later_.room("s:o")->owner, 1u);  // an answer ready still counts
  EXPECT_EQ(*later_.take("s:o"), std::vector<std::string>{"frame-1"});
  EXPECT_TRUE(later_.take("s:o")->empty());  // once
  EXPECT_EQ(later_.room("s:o")->owner, 0u);
  EXPECT_EQ(later_.room("s:o")->total, 0u);
}

TEST_F(RedisLaterTest, ReleasedQuestionsGoToTheBackAndOldOnesExpire) {
  ASSERT_TRUE(later_.leave("s:o", "q1", "m1", 3, 10).ok());
  ASSERT_TRUE(later_.leave("s:p", "q2", "m2", 3, 10).ok());
  auto c1 = later_.claim("t1", 60'000, 60'000);
  ASSERT_EQ(c1->claimed->question, "q1");
  ASSERT_TRUE(*later_.release(c1->claimed->id, "t1"));
  // Released (its attempt came back degraded): behind q2, so one question that never gets an
  // answer does not hold up the others.
  EXPECT_EQ(later_.claim("t2", 60'000, 60'000)->claimed->question, "q2");
  EXPECT_EQ(later_.claim("t3", 60'000, 60'000)->claimed->question, "q1");
  ASSERT_TRUE(*later_.answered(c1->claimed->id, "a1"));
  // Past max_wait (1 ms here): the answer waiting and the question (its lease over) go.
  std::uint64_t questions = 0, answers = 0;
  ASSERT_TRUE(until([&] {
    auto r = later_.claim("t4", 60'000, 1);
    questions += r->expired_questions;
    answers += r->expired_answers;
    return answers == 1;
  }));
  EXPECT_TRUE(later_.take("s:o")->empty());
  EXPECT_EQ(later_.room("s:o")->owner, 0u);
  EXPECT_EQ(later_.room("s:p")->owner, 1u);  // q2 is being tried (leased): not swept yet
  EXPECT_EQ(later_.sizes()->held, 1u);
  EXPECT_EQ(questions, 0u);
}

}  // namespace
}  // namespace ma::server
