// Trust at the edge (docs/security.md), against the real server on loopback: who a request
// speaks for, what a WebSocket client can make the server hold, connection floods, and no
// unverified price on a client's screen -- streamed or not.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "core/real_clock.hpp"
#include "integration/test_client.hpp"
#include "server/app.hpp"
#include "server/server.hpp"

namespace ma::server {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using testing::http_request;

constexpr const char* kAdmin = "trust-admin-token";

class TrustTest : public ::testing::Test {
 protected:
  void TearDown() override { stop(); }

  void start(const std::function<void(AppConfig&)>& tweak = {}) {
    cfg_ = testing::test_config();
    cfg_.server.admin_token = kAdmin;
    if (tweak) tweak(cfg_);
    auto app = App::create(cfg_, clock_);
    ASSERT_TRUE(app.ok()) << app.error().message;
    app_ = std::move(app).value();
    server_ = std::make_unique<Server>(*app_, cfg_.server);
    auto port = server_->listen();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    server_->start();
  }
  void stop() {
    if (server_) {
      server_->shutdown();
      server_->join();
    }
    server_.reset();
    app_.reset();
  }
  testing::HttpResult chat(const std::string& message, const std::string& token = "",
                           const std::string& session = "") {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    json::object body{{"message", message}};
    if (!session.empty()) body["session_id"] = session;
    return http_request(port_, "POST", "/v1/chat", json::serialize(body), h);
  }
  std::string token_for(const std::string& user, std::chrono::seconds ttl = 1h) {
    return app_->identity().issue_user_token(user, std::chrono::system_clock::now() + ttl);
  }
  std::uint64_t metric(const std::string& series) {
    const auto body = http_request(port_, "GET", "/metrics", "",
                                   {{"Authorization", std::string("Bearer ") + kAdmin}})
                          .body;
    const auto at = body.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stoull(body.substr(at + series.size() + 2));
  }

  AppConfig cfg_;
  core::RealClock clock_;
  std::unique_ptr<App> app_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

// Aiko's order: the tracking number nobody else may read.
constexpr std::string_view kAikosTracking = "4512-3456-7890";

TEST_F(TrustTest, UserTokensAreSignedAndExpire) {
  start();
  auto mine = chat("Where is my order #12345?", token_for("u-1001")).json();
  EXPECT_NE(std::string(mine.at("reply").as_string()).find(kAikosTracking), std::string::npos)
      << mine;
  auto expect_401 = [](const testing::HttpResult& r, std::string_view code) {
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.json().at("error").as_string(), code) << r.body;
  };
  // The old fixed demo token, a forged one, one signed with another secret, an expired one.
  expect_401(chat("Where is my order #12345?", "demo-aiko"), "invalid_token");
  const std::string good = token_for("u-1001");
  std::string forged = good;
  forged[10] = forged[10] == 'A' ? 'B' : 'A';
  expect_401(chat("Where is my order #12345?", forged), "invalid_token");
  const Identity other("another-secret-0123456789");
  expect_401(chat("Where is my order #12345?",
                  other.issue_user_token("u-1001", std::chrono::system_clock::now() + 1h)),
             "invalid_token");
  expect_401(chat("Where is my order #12345?", token_for("u-1001", -1s)), "token_expired");
  expect_401(chat("Where is my order #12345?", token_for("u-9999")), "invalid_token");
}

TEST_F(TrustTest, ASessionIdAClientChoosesNamesNobodysState) {
  start();
  ASSERT_EQ(http_request(port_, "POST", "/admin/chaos",
                         R"({"model":"all","outage":true,"duration_s":60})",
                         {{"Authorization", std::string("Bearer ") + kAdmin}})
                .status,
            200);
  const std::string q = "Where is my order #12345?";
  auto aiko = chat(q, token_for("u-1001")).json();
  ASSERT_TRUE(aiko.at("degraded").as_bool()) << aiko;
  ASSERT_NE(std::string(aiko.at("reply").as_string()).find(kAikosTracking), std::string::npos);
  // A visitor who names Aiko's user id as their session gets nothing of hers.
  for (const char* sid : {"u-1001", "u:u-1001", "s:u-1001"}) {
    auto r = chat(q, "", sid);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body.find(kAikosTracking), std::string::npos) << r.body;
    EXPECT_EQ(r.json().at("reply").as_string().size() > 0, true);
    // ... and is given a session of their own instead.
    EXPECT_NE(r.json().at("session_id").as_string(), sid);
  }
}

TEST_F(TrustTest, TheServerIssuesSessionsAndRotatingThemDoesNotEscapeTheVisitorLimit) {
  start([](AppConfig& c) {
    c.admission.plans[0] = {0.01, 2, 0};       // anonymous: 2 messages, then 1 per 100 s
    c.admission.per_source = {1000, 1000, 0};  // the address limit is not what stops them
    c.server.session_issue_rate = 0.001;
    c.server.session_issue_burst = 3;
  });
  // An issued session comes back in the body and as a cookie, and keys the visitor's bucket.
  auto first = chat("hello");
  ASSERT_EQ(first.status, 200);
  const std::string session(first.json().at("session_id").as_string());
  EXPECT_NE(first.headers["Set-Cookie"].find("ma_session=" + session), std::string::npos);
  EXPECT_NE(first.headers["Set-Cookie"].find("HttpOnly"), std::string::npos);
  EXPECT_EQ(chat("hello again", "", session).status, 200);
  auto third = chat("and again", "", session);
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(third.json().at("scope").as_string(), "user");
  // A client that makes up a new session id for every message: ignored, and once this
  // address has had its few new sessions, its messages share one anonymous bucket.
  std::mt19937_64 rng(1);
  int limited = 0;
  for (int i = 0; i < 20; ++i) {
    limited += chat("hello", "", "s-" + std::to_string(rng())).status == 429;
  }
  EXPECT_GE(limited, 15);
}

TEST_F(TrustTest, WebSocketsFromOtherSitesAreRefused) {
  start([](AppConfig& c) { c.server.allowed_origins = {"https://shop.example.jp"}; });
  EXPECT_THROW(testing::WsClient(port_, "/v1/ws", {{"Origin", "https://evil.example"}}),
               std::exception);
  EXPECT_THROW(
      testing::WsClient(port_, "/v1/ws",
                        {{"Origin", "http://localhost:" + std::to_string(port_) + ".evil"}}),
      std::exception);
  EXPECT_NO_THROW(testing::WsClient(port_, "/v1/ws",
                                    {{"Origin", "http://localhost:" + std::to_string(port_)}}));
  EXPECT_NO_THROW(testing::WsClient(port_, "/v1/ws", {{"Origin", "https://shop.example.jp"}}));
  EXPECT_GE(metric("mangaassist_ws_closed_total{reason=\"origin\"}"), 2u);
}

TEST_F(TrustTest, ABrowserSignsInOverTheWebSocketWithAQueryToken) {
  start();
  testing::WsClient ws(port_, "/v1/ws?token=" + token_for("u-1001"));
  ws.send(R"({"action":"sendMessage","message":"Where is my order #12345?","request_id":"o"})");
  for (;;) {
    auto m = ws.receive();
    if (m.at("type").as_string() != "reply") continue;
    EXPECT_NE(std::string(m.at("reply").as_string()).find(kAikosTracking), std::string::npos) << m;
    break;
  }
  EXPECT_THROW(testing::WsClient(port_, "/v1/ws?token=forged"), std::exception);
}

TEST_F(TrustTest, AnAnonymousWebSocketGetsASessionCookie) {
  start();
  testing::WsClient ws(port_);
  EXPECT_NE(ws.response_header("Set-Cookie").find("ma_session=s1."), std::string::npos);
}

TEST_F(TrustTest, AWebSocketClientThatNeverReadsIsPausedThenCut) {
  start([](AppConfig& c) {
    c.server.ws_max_queued_bytes = 16 * 1024;
    c.server.ws_send_timeout = 300ms;
  });
  testing::WsClient ws(port_);
  // Every message earns a reply or an error (over the visitor's limit, too many in flight)
  // the client never reads. Without a bound the server queued them all (~33 MiB/s); now it
  // stops reading, then cuts the client.
  const std::size_t written = ws.flood(
      R"({"action":"sendMessage","message":"Recommend something like Frieren"})", 5'000'000);
  EXPECT_LT(written, 5'000'000u);
  EXPECT_GE(metric("mangaassist_ws_closed_total{reason=\"slow_reader\"}"), 1u);
  EXPECT_EQ(http_request(port_, "GET", "/healthz").status, 200);
}

TEST_F(TrustTest, AStreamOfInvalidWebSocketMessagesIsAnsweredThenClosed) {
  start();
  testing::WsClient ws(port_);
  for (int i = 0; i < 40; ++i) ws.send("{bad");
  int errors = 0;
  try {
    for (;;) {
      EXPECT_EQ(ws.receive().at("error").as_string(), "invalid_json");
      ++errors;
    }
  } catch (const std::exception&) {
  }
  EXPECT_GE(errors, 20);
  EXPECT_LT(errors, 40);
  EXPECT_EQ(ws.close_code(), 1008);
  EXPECT_GE(metric("mangaassist_ws_closed_total{reason=\"invalid_flood\"}"), 1u);
}

TEST_F(TrustTest, AnOversizedWebSocketMessageIsToldThenClosedWith1009) {
  start();
  testing::WsClient ws(port_);
  ws.send(R"({"action":"sendMessage","message":")" + std::string(20'000, 'a') + "\"}");
  auto err = ws.receive();
  EXPECT_EQ(err.at("error").as_string(), "body_too_large");
  EXPECT_THROW(ws.receive(), std::exception);
  EXPECT_EQ(ws.close_code(), 1009);
}

TEST_F(TrustTest, WebSocketsArePingedAndIdleOnesClosed) {
  start([](AppConfig& c) {
    c.server.ws_ping_interval = 100ms;
    c.server.ws_idle_timeout = 1500ms;
  });
  testing::WsClient ws(port_);
  EXPECT_TRUE(ws.wait_for_ping(5s));
  testing::WsClient quiet(port_);
  EXPECT_THROW(quiet.receive(10s), std::exception);
  EXPECT_EQ(quiet.close_code(), 1000);
}

TEST_F(TrustTest, AtTheConnectionCapTheOldestIdleConnectionIsShed) {
  start([](AppConfig& c) { c.server.max_connections = 4; });
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> idle;
  const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
  for (int i = 0; i < 4; ++i) {
    idle.emplace_back(io);
    idle.back().connect(ep);
  }
  // The server is full of connections that send nothing; a new client is still answered.
  EXPECT_EQ(http_request(port_, "GET", "/healthz").status, 200);
  // The oldest was shed: it reads end-of-file (not a timeout).
  char byte = 0;
  boost::system::error_code ec;
  asio::read(idle.front(), asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_GE(metric("mangaassist_connection_events_total{event=\"shed\"}"), 1u);
}

// The highest file descriptor this process has open.
int highest_fd() {
  int high = 2;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) high = std::max(high, std::atoi(e->d_name));
    closedir(d);
  }
  return high;
}

TEST_F(TrustTest, OutOfFileDescriptorsTheAcceptLoopBacksOffAndRecovers) {
  start([](AppConfig& c) { c.server.max_connections = 10'000; });
  asio::io_context io;
  const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
  std::vector<asio::ip::tcp::socket> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(io);
    clients.back().open(asio::ip::tcp::v4());
  }
  // No descriptor left for the server to accept with (this process is the server).
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(highest_fd() + 1);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;  // the free descriptors below the limit, taken
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
  for (auto& c : clients) c.connect(ep);
  auto accept_errors = [&] {
    const auto& m = app_->metrics().render();
    const std::string series = "mangaassist_connection_events_total{event=\"accept_error\"} ";
    const auto at = m.find(series);
    return at == std::string::npos ? 0ull : std::stoull(m.substr(at + series.size()));
  };
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (accept_errors() < 1 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::yield();
  const auto first = std::chrono::steady_clock::now();
  while (accept_errors() < 6 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::yield();
  const auto sixth = std::chrono::steady_clock::now();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  for (int fd : fillers) ::close(fd);
  ASSERT_LT(sixth, give_up) << accept_errors() << " accept errors";
  // Five retries waited 10 + 20 + 40 + 80 + 160 ms: not a busy loop (which makes thousands
  // of failed accepts a second and starves the connections being served).
  EXPECT_GE(sixth - first, 250ms);
  for (auto& c : clients) c.close();
  // With descriptors back, the server accepts again (within its longest pause, 1 s).
  EXPECT_EQ(http_request(port_, "GET", "/healthz").status, 200);
}

TEST_F(TrustTest, OperatorPagesNeedTheAdminTokenAndErrorsEchoNothing) {
  start();
  EXPECT_EQ(http_request(port_, "GET", "/metrics").status, 401);
  EXPECT_EQ(http_request(port_, "GET", "/status").status, 401);
  auto nf = http_request(port_, "GET", "/no-such-<script>alert(1)</script>");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body.find("script"), std::string::npos);
  EXPECT_EQ(nf.headers["X-Content-Type-Options"], "nosniff");
  auto page = http_request(port_, "GET", "/");
  EXPECT_NE(page.headers["Content-Security-Policy"].find("frame-ancestors 'none'"),
            std::string::npos);
}

// A model that quotes ONE PIECE 105 at 300 yen (the catalog says 528), streaming.
class LyingModelTest : public TrustTest {
 protected:
  static std::string sse(std::string_view text) {
    return "data: " +
           json::serialize(json::object{
               {"choices", json::array{json::object{
                               {"index", 0}, {"delta", json::object{{"content", text}}}}}}}) +
           "\n\n";
  }
  std::string answer(const testing::MockHttpServer::Request&) {
    const int n = ++calls_;
    std::string body;
    if (mode_ == "lie_elsewhere") {
      body = sse("Try ONE PIECE vol. 105, only ") + sse("300 yen this week. ") +
             sse("You will love it.") + "data: [DONE]\n\n";
    } else if (mode_ == "lie") {
      body = sse("ONE PIECE 105巻は") + sse("３００円です。") + sse("ご注文をお待ちしています。") +
             "data: [DONE]\n\n";
    } else if (n == 1) {  // "retry": the first attempt fails half way
      body = sse("You asked: Tell ") +
             "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
    } else {
      body = sse("Frieren is a quiet fantasy.") + "data: [DONE]\n\n";
    }
    return testing::http_response(200, "OK", body, "Content-Type: text/event-stream\r\n");
  }
  void start_with_mock(std::string mode) {
    mode_ = std::move(mode);
    start([this](AppConfig& c) {
      c.primary_provider = c.secondary_provider = "openai";
      c.openai_primary.base_url = c.openai_secondary.base_url = mock_.base_url() + "/v1";
    });
  }
  std::string mode_;
  std::atomic<int> calls_{0};
  testing::MockHttpServer mock_{[this](const auto& r) { return answer(r); }};
};

// What one WebSocket message brought: the text each attempt streamed, and the final reply.
struct Streamed {
  std::map<std::int64_t, std::string> by_attempt;
  std::string all;  // every chunk, in order
  json::object reply;
};

Streamed ask_streaming(testing::WsClient& ws, const std::string& message) {
  ws.send(json::serialize(
      json::object{{"action", "sendMessage"}, {"message", message}, {"request_id", "r"}}));
  Streamed out;
  for (;;) {
    auto m = ws.receive();
    if (m.at("type").as_string() == "chunk") {
      out.by_attempt[m.at("attempt").as_int64()] += m.at("text").as_string();
      out.all += m.at("text").as_string();
      continue;
    }
    EXPECT_EQ(m.at("type").as_string(), "reply") << m;
    out.reply = m.as_object();
    return out;
  }
}

TEST_F(LyingModelTest, AWrongPriceInFullWidthDigitsIsNeverStreamed) {
  start_with_mock("lie");
  testing::WsClient ws(port_);
  const Streamed s = ask_streaming(ws, "ONE PIECEの105巻はいくら？");
  const std::string reply(s.reply.at("reply").as_string());
  EXPECT_NE(reply.find("528"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("３００"), std::string::npos) << reply;
  EXPECT_EQ(s.all.find("３００"), std::string::npos) << s.all;
  EXPECT_EQ(s.all.find("300"), std::string::npos) << s.all;
}

TEST_F(LyingModelTest, AWrongPriceForAProductTheQuestionDidNotNameIsCaughtToo) {
  start_with_mock("lie_elsewhere");
  testing::WsClient ws(port_);
  const Streamed s = ask_streaming(ws, "Recommend something like Naruto");
  const std::string reply(s.reply.at("reply").as_string());
  EXPECT_EQ(reply.find("300 yen"), std::string::npos) << reply;
  EXPECT_EQ(s.all.find("300"), std::string::npos) << s.all;
}

TEST_F(LyingModelTest, ARetriedAttemptIsNumberedSoTheClientDiscardsTheFirst) {
  start_with_mock("retry");
  testing::WsClient ws(port_);
  const Streamed s = ask_streaming(ws, "Tell me about Frieren");
  const std::string tier(s.reply.at("tier").as_string());
  ASSERT_TRUE(tier == "primary" || tier == "secondary") << tier;
  // What the last attempt streamed is the reply; an earlier attempt's text is not in it.
  ASSERT_FALSE(s.by_attempt.empty());
  EXPECT_EQ(s.by_attempt.rbegin()->second, s.reply.at("reply").as_string());
  EXPECT_GT(s.by_attempt.rbegin()->first, 1);
}

}  // namespace
}  // namespace ma::server
