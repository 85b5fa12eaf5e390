// "We'll answer when we're back" and the status pushed over the WebSocket (issue 22,
// server/later.hpp), through the real server: a degraded reply's ticket, the question left
// over the WebSocket and over HTTP, answered once the models are back and delivered exactly
// once -- on the open connection, or on the next one after a reconnect -- the bounds and the
// foreign tickets refused with their codes, and the status frames.
#include "server/later.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "integration/test_server.hpp"

namespace ma::server {
namespace {

using namespace std::chrono_literals;
using testing::http_request;
using testing::HttpResult;
using testing::WsClient;
namespace json = boost::json;

constexpr const char* kAdmin = "later-test-admin-token";
constexpr std::string_view kSentence =
    "Leave your question and we'll answer it here as soon as we're back.";

// The anonymous session a handshake or a reply set (the ma_session cookie's value).
std::string session_of_cookie(const std::string& set_cookie) {
  const auto start = set_cookie.find("ma_session=");
  if (start == std::string::npos) return {};
  const auto value = start + 11;
  return set_cookie.substr(value, set_cookie.find(';', value) - value);
}

// Frames until one that `want` accepts (the others are kept in `seen`); throws (a test
// failure) when none comes within `limit`.
json::object wait_for(WsClient& ws, const std::function<bool(const json::object&)>& want,
                      std::chrono::milliseconds limit, std::vector<json::object>* seen = nullptr) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left <= 0ms) throw std::runtime_error("no such frame in time");
    json::object f = ws.receive_any(left).as_object();
    if (want(f)) return f;
    if (seen != nullptr) seen->push_back(std::move(f));
  }
}
auto of_type(std::string type) {
  return
      [type = std::move(type)](const json::object& f) { return f.at("type").as_string() == type; };
}
auto for_request(std::string rid) {
  return [rid = std::move(rid)](const json::object& f) {
    return f.contains("request_id") && f.at("request_id").as_string() == rid &&
           f.at("type") != "queued" && f.at("type") != "chunk";
  };
}

class LaterTest : public ::testing::Test {
 protected:
  void start(const std::function<void(AppConfig&)>& more = {}) {
    ts_ = std::make_unique<testing::TestServer>(kAdmin, [&](AppConfig& c) {
      // Breakers that open after a few failures and probe a second later; attempts paced
      // at 200 ms: the recovery a test can wait for.
      c.pipeline.breaker.minimum_calls = 2;
      c.pipeline.breaker.wait_in_open = 1s;
      c.pipeline.stagger_max = 20ms;
      c.answer_later.retry_interval = 200ms;
      if (more) more(c);
    });
    ts_->create();
    ts_->start();
  }
  void outage() {
    ASSERT_EQ(ts_->admin("POST", "/admin/chaos", R"({"model":"all","outage":true})").status, 200);
  }
  void clear() { ASSERT_EQ(ts_->admin("POST", "/admin/chaos", R"({"clear":true})").status, 200); }
  std::unique_ptr<WsClient> open(const std::string& session = "") {
    std::map<std::string, std::string> h;
    if (!session.empty()) h["Cookie"] = "ma_session=" + session;
    return std::make_unique<WsClient>(ts_->port(), "/v1/ws", h);
  }
  // A degraded reply over the WebSocket (a general question: nothing below the models answers).
  json::object degraded_reply(WsClient& ws, const std::string& rid, const std::string& question) {
    ws.send(json::serialize(
        json::object{{"action", "sendMessage"}, {"message", question}, {"request_id", rid}}));
    json::object r = wait_for(ws, for_request(rid), 15s);
    EXPECT_EQ(r.at("type"), "reply");
    EXPECT_EQ(r.at("tier"), "degraded");
    return r;
  }
  json::object leave(WsClient& ws, const std::string& rid, std::string_view ticket) {
    ws.send(json::serialize(
        json::object{{"action", "answerLater"}, {"ticket", ticket}, {"request_id", rid}}));
    return wait_for(ws, for_request(rid), 10s);
  }
  double metric(const std::string& line_start) {
    const std::string body = ts_->admin("GET", "/metrics").body;
    const auto at = body.find("\n" + line_start + " ");
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + line_start.size() + 2));
  }
  // Bounded polling of the server's own counters (no fixed sleep).
  bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (cond()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return cond();
  }
  HttpResult take_later(const std::string& session) {
    return http_request(ts_->port(), "POST", "/v1/later/answers", "",
                        {{"Cookie", "ma_session=" + session}});
  }

  std::unique_ptr<testing::TestServer> ts_;
};

TEST_F(LaterTest, AQuestionLeftDuringAnOutageIsAnsweredOnceOnTheOpenWebSocket) {
  start();
  auto ws = open();
  const std::string session = session_of_cookie(ws->response_header("Set-Cookie"));
  ASSERT_FALSE(session.empty());
  // Right after the handshake: the service status.
  json::object hello = ws->greeting().as_object();
  EXPECT_EQ(hello.at("type"), "status");
  EXPECT_EQ(hello.at("state"), "normal");
  EXPECT_TRUE(hello.at("eta_s").is_null());
  EXPECT_TRUE(hello.contains("note") && hello.contains("note_ja"));

  outage();
  const std::string question = "Tell me something fun about manga";
  json::object reply = degraded_reply(*ws, "r1", question);
  ASSERT_TRUE(reply.contains("later")) << json::serialize(reply);
  EXPECT_EQ(reply.at("later").at("expires_in_s").to_number<std::int64_t>(), 600);
  const std::string text(reply.at("reply").as_string());
  EXPECT_TRUE(text.ends_with(kSentence)) << text;
  const std::string ticket(reply.at("later").at("ticket").as_string());
  EXPECT_EQ(ticket.find(session), std::string::npos);  // the ticket shows no session

  json::object accepted = leave(*ws, "r2", ticket);
  EXPECT_EQ(accepted.at("type"), "later_accepted") << json::serialize(accepted);
  EXPECT_EQ(accepted.at("held").to_number<std::int64_t>(), 1);
  // Leaving it twice holds it once.
  EXPECT_EQ(leave(*ws, "r3", ticket).at("held").to_number<std::int64_t>(), 1);

  // The attempts (and this reply) open the breakers: a status frame says "down".
  wait_for(
      *ws,
      [](const json::object& f) { return f.at("type") == "status" && f.at("state") == "down"; },
      20s);
  clear();
  // Back: the status changes again, and the answer arrives, written by a model.
  std::vector<json::object> seen;
  json::object answer = wait_for(*ws, of_type("later_answer"), 15s, &seen);
  EXPECT_EQ(answer.at("question").as_string(), question);
  EXPECT_EQ(answer.at("degraded"), false);
  EXPECT_TRUE(answer.at("tier") == "primary" || answer.at("tier") == "secondary")
      << json::serialize(answer);
  EXPECT_FALSE(answer.at("reply").as_string().empty());
  EXPECT_TRUE(answer.contains("trace_id") && answer.contains("actions") &&
              answer.contains("status") && answer.contains("intent"));
  bool up = false;
  for (const auto& f : seen) up |= f.at("type") == "status" && f.at("state") != "down";
  if (!up) {
    wait_for(
        *ws,
        [](const json::object& f) { return f.at("type") == "status" && f.at("state") != "down"; },
        10s);
  }
  // Exactly once: nothing left to take, and one delivery counted.
  auto rest = take_later(session);
  ASSERT_EQ(rest.status, 200);
  EXPECT_TRUE(rest.json().at("answers").as_array().empty());
  EXPECT_EQ(metric("mangaassist_later_delivered_total"), 1);
  EXPECT_EQ(metric("mangaassist_later_answered_total"), 1);
  EXPECT_EQ(metric("mangaassist_later_held"), 0);
}

TEST_F(LaterTest, AnAnswerReadyWhileDisconnectedIsDeliveredOnTheNextConnection) {
  start();
  std::string session;
  std::string ticket;
  {
    auto ws = open();
    session = session_of_cookie(ws->response_header("Set-Cookie"));
    outage();
    json::object reply = degraded_reply(*ws, "r1", "Tell me a story about a manga festival");
    ASSERT_TRUE(reply.contains("later"));
    ticket = std::string(reply.at("later").at("ticket").as_string());
    EXPECT_EQ(leave(*ws, "r2", ticket).at("type"), "later_accepted");
  }
  // The server has seen the close (only this /metrics request is open) before the models
  // come back: the answer cannot go to the old connection.
  ASSERT_TRUE(eventually([&] { return metric("mangaassist_connections_open") <= 1; }, 10s));
  clear();
  ASSERT_TRUE(eventually([&] { return metric("mangaassist_later_ready") == 1; }, 15s));
  EXPECT_EQ(metric("mangaassist_later_delivered_total"), 0);

  // Another visitor's connection gets nothing of it.
  auto stranger = open();
  EXPECT_EQ(stranger->greeting().as_object().at("type"), "status");

  auto again = open(session);
  EXPECT_EQ(again->greeting().as_object().at("type"), "status");
  json::object answer = wait_for(*again, of_type("later_answer"), 5s);
  EXPECT_EQ(answer.at("question"), "Tell me a story about a manga festival");
  EXPECT_EQ(answer.at("degraded"), false);
  EXPECT_EQ(metric("mangaassist_later_delivered_total"), 1);
  // Once: a third connection, and GET /v1/later, find nothing.
  auto third = open(session);
  EXPECT_EQ(third->greeting().as_object().at("type"), "status");
  EXPECT_TRUE(take_later(session).json().at("answers").as_array().empty());
  EXPECT_EQ(metric("mangaassist_later_delivered_total"), 1);
}

TEST_F(LaterTest, HttpClientsLeaveAndTakeWithPost) {
  start();
  outage();
  auto r = http_request(ts_->port(), "POST", "/v1/chat",
                        R"({"message":"Tell me a fun fact about manga history"})");
  ASSERT_EQ(r.status, 200);
  const std::string session = session_of_cookie(r.headers["Set-Cookie"]);
  json::object reply = r.json().as_object();
  ASSERT_TRUE(reply.contains("later")) << r.body;
  const std::string ticket(reply.at("later").at("ticket").as_string());
  auto left =
      http_request(ts_->port(), "POST", "/v1/later",
                   json::serialize(json::object{{"ticket", ticket}, {"session_id", session}}));
  ASSERT_EQ(left.status, 202) << left.body;
  EXPECT_EQ(left.json().at("held").to_number<std::int64_t>(), 1);
  clear();
  ASSERT_TRUE(eventually([&] { return metric("mangaassist_later_ready") == 1; }, 15s));
  // Taking is a POST: a GET (a link, another site's navigation with the cookie) takes nothing.
  for (const char* path : {"/v1/later", "/v1/later/answers"}) {
    EXPECT_EQ(
        http_request(ts_->port(), "GET", path, "", {{"Cookie", "ma_session=" + session}}).status,
        405)
        << path;
  }
  EXPECT_EQ(metric("mangaassist_later_ready"), 1);
  auto got = take_later(session);
  ASSERT_EQ(got.status, 200);
  auto answers = got.json().at("answers").as_array();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].at("type"), "later_answer");
  EXPECT_EQ(answers[0].at("question"), "Tell me a fun fact about manga history");
  EXPECT_TRUE(take_later(session).json().at("answers").as_array().empty());
}

TEST_F(LaterTest, BoundsAndForeignTicketsAreRefusedWithTheirCodes) {
  start([](AppConfig& c) {
    c.answer_later.max_per_owner = 2;
    c.answer_later.max_total = 3;
  });
  outage();
  auto a = open();
  const std::string a_session = session_of_cookie(a->response_header("Set-Cookie"));
  std::vector<std::string> tickets;
  for (int i = 0; i < 3; ++i) {
    json::object r =
        degraded_reply(*a, "q" + std::to_string(i), "Tell me about manga #" + std::to_string(i));
    ASSERT_TRUE(r.contains("later"));
    tickets.push_back(std::string(r.at("later").at("ticket").as_string()));
  }
  // Another visitor cannot leave A's question (nor a tampered one).
  auto b = open();
  json::object foreign = leave(*b, "f1", tickets[0]);
  EXPECT_EQ(foreign.at("type"), "error");
  EXPECT_EQ(foreign.at("code"), "later_invalid");
  EXPECT_EQ(foreign.at("error"), "later_invalid");
  std::string tampered = tickets[0];
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(leave(*a, "f2", tampered).at("code"), "later_invalid");
  auto http_foreign = http_request(ts_->port(), "POST", "/v1/later",
                                   json::serialize(json::object{{"ticket", tickets[0]}}));
  EXPECT_EQ(http_foreign.status, 400);
  EXPECT_EQ(http_foreign.json().at("error"), "later_invalid");

  // Two per visitor.
  EXPECT_EQ(leave(*a, "l0", tickets[0]).at("held").to_number<std::int64_t>(), 1);
  EXPECT_EQ(leave(*a, "l1", tickets[1]).at("held").to_number<std::int64_t>(), 2);
  json::object full = leave(*a, "l2", tickets[2]);
  EXPECT_EQ(full.at("type"), "error");
  EXPECT_EQ(full.at("code"), "later_full");
  // Full for A: its next degraded reply offers nothing, and says nothing about leaving it.
  json::object none = degraded_reply(*a, "q3", "Tell me about manga #3");
  EXPECT_FALSE(none.contains("later"));
  EXPECT_FALSE(std::string(none.at("reply").as_string()).ends_with(kSentence));

  // Three in all: B leaves one, then the server is full.
  std::vector<std::string> b_tickets;
  for (int i = 0; i < 2; ++i) {
    json::object r =
        degraded_reply(*b, "b" + std::to_string(i), "Tell me about anime #" + std::to_string(i));
    ASSERT_TRUE(r.contains("later"));
    b_tickets.push_back(std::string(r.at("later").at("ticket").as_string()));
  }
  EXPECT_EQ(leave(*b, "bl0", b_tickets[0]).at("held").to_number<std::int64_t>(), 1);
  EXPECT_EQ(leave(*b, "bl1", b_tickets[1]).at("code"), "later_full");
  auto c = open();
  EXPECT_FALSE(degraded_reply(*c, "c0", "Tell me about anime #9").contains("later"));
  EXPECT_EQ(metric("mangaassist_later_refused_total{code=\"later_full\"}"), 2);
  EXPECT_EQ(metric("mangaassist_later_refused_total{code=\"later_invalid\"}"), 3);
  EXPECT_EQ(metric("mangaassist_later_held"), 3);
  EXPECT_FALSE(a_session.empty());
}

// Forged tickets, one after another on one connection: each is answered, then the connection
// is closed like any flood of invalid messages (1008), not served forever.
TEST_F(LaterTest, AStreamOfForgedTicketsIsAnsweredThenClosed) {
  start();
  auto ws = open();
  for (int i = 0; i < 40; ++i) {
    ws->send(json::serialize(json::object{{"action", "answerLater"},
                                          {"ticket", "lt1.1.abc.forged" + std::to_string(i)},
                                          {"request_id", "f" + std::to_string(i)}}));
  }
  int refused = 0;
  try {
    for (;;) {
      EXPECT_EQ(ws->receive().at("code").as_string(), "later_invalid");
      ++refused;
    }
  } catch (const std::exception&) {
  }
  EXPECT_GE(refused, 20);
  EXPECT_LT(refused, 40);
  EXPECT_EQ(ws->close_code(), 1008);
}

TEST_F(LaterTest, DisabledOffersNothingAndRefusesTickets) {
  start([](AppConfig& c) { c.answer_later.enabled = false; });
  outage();
  auto ws = open();
  json::object r = degraded_reply(*ws, "r1", "Tell me something fun");
  EXPECT_FALSE(r.contains("later"));
  EXPECT_EQ(leave(*ws, "r2", "lt1.1.abc.def").at("code"), "later_disabled");
}

}  // namespace
}  // namespace ma::server
