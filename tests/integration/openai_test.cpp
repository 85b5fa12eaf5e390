// The OpenAI-compatible provider against a mock server on a loopback port that speaks the
// wire format: SSE streaming, error bodies, Retry-After, and the bad inputs of the wire.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <mutex>

#include "core/real_clock.hpp"
#include "fm/openai_compatible.hpp"
#include "fm/provider_util.hpp"
#include "integration/test_client.hpp"
#include "server/app.hpp"
#include "server/server.hpp"

namespace ma::fm {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using resilience::ErrorClass;

// Plays an OpenAI-compatible server; `mode` picks the behaviour.
class MockOpenAi {
 public:
  void set_mode(std::string m) {
    std::lock_guard lock(mu_);
    mode_ = std::move(m);
  }
  std::string url() const { return server_.base_url() + "/v1"; }
  json::value last_body() { return json::parse(server_.requests().back().body); }
  std::string last_auth() { return server_.requests().back().headers["authorization"]; }

 private:
  static std::string chunk(std::string_view text) {
    return "data: " +
           json::serialize(json::object{
               {"object", "chat.completion.chunk"},
               {"choices", json::array{json::object{
                               {"index", 0}, {"delta", json::object{{"content", text}}}}}}}) +
           "\n\n";
  }
  std::string answer(const testing::MockHttpServer::Request&) {
    std::string mode;
    {
      std::lock_guard lock(mu_);
      mode = mode_;
    }
    if (mode == "stream" || mode == "truncated" || mode == "stream_error" || mode == "usage" ||
        mode == "stall") {
      std::string body =
          ": keep-alive comment\n\n" + chunk("ONE PIECE 105巻は") + chunk("528円です。");
      if (mode == "stall") {  // two chunks, then silence on an open connection
        return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + body;
      }
      if (mode == "usage") {  // stream_options.include_usage: a last chunk, no choices
        body +=
            "data: "
            "{\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":"
            "31,\"completion_tokens\":7,\"total_tokens\":38}}\n\n";
      }
      if (mode == "stream" || mode == "usage") body += "data: [DONE]\n\n";
      if (mode == "stream_error") {
        body +=
            "data: "
            "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":\"server_"
            "error\"}}\n\n";
      }
      if (mode == "truncated") {
        return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" +
               body;
      }
      return testing::http_response(200, "OK", body, "Content-Type: text/event-stream\r\n");
    }
    if (mode == "429") {
      return testing::http_response(
          429, "Too Many Requests",
          R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
          "Content-Type: application/json\r\nRetry-After: 2\r\n");
    }
    if (mode == "html") {
      return testing::http_response(502, "Bad Gateway", "<html><body>502 Bad Gateway</body></html>",
                                    "Content-Type: text/html\r\n");
    }
    if (mode == "empty200") return testing::http_response(200, "OK", "");
    return "";  // "slow": never answers
  }

  std::mutex mu_;
  std::string mode_ = "stream";
  testing::MockHttpServer server_{[this](const auto& r) { return answer(r); }};
};

class OpenAiTest : public ::testing::Test {
 protected:
  ModelResult call(std::vector<std::string>* chunks = nullptr, core::Duration budget = 3s,
                   const std::function<void(ModelRequest&)>& adjust = {}) {
    asio::io_context io;
    auto p = OpenAiCompatible::create({mock_.url(), "sk-test", "llama-3", "sonnet", 128, ""});
    EXPECT_TRUE(p.ok());
    ModelRequest req;
    req.lang = Language::kJa;
    req.system = "You are the store assistant.";
    req.turns = {{"user", "ONE PIECEの105巻はいくら？"}};
    static const Facts facts{{"ONE PIECE 105巻は528円（税込）です。"}, ""};
    req.facts = &facts;
    req.deadline = core::Deadline::after(clock_, budget);
    if (adjust) adjust(req);
    std::optional<ModelResult> out;
    auto task = [&]() -> asio::awaitable<void> {
      out = co_await (*p)->invoke(req, [&](std::string_view t) {
        if (chunks) chunks->emplace_back(t);
      });
    };
    asio::co_spawn(io, task(), asio::detached);
    io.run();
    return std::move(out).value();
  }
  MockOpenAi mock_;
  core::RealClock clock_;
};

TEST_F(OpenAiTest, StreamsTheCompletionAndSendsAProperRequest) {
  std::vector<std::string> chunks;
  auto r = call(&chunks);
  ASSERT_TRUE(r.ok()) << r.error().code << " " << r.error().message;
  EXPECT_EQ(r->text, "ONE PIECE 105巻は528円です。");
  EXPECT_EQ(chunks, (std::vector<std::string>{"ONE PIECE 105巻は", "528円です。"}));
  const auto body = mock_.last_body();
  EXPECT_EQ(body.at("model").as_string(), "llama-3");
  EXPECT_TRUE(body.at("stream").as_bool());
  EXPECT_EQ(body.at("messages").at(0).at("role").as_string(), "system");
  EXPECT_NE(std::string(body.at("messages").at(0).at("content").as_string()).find("528円"),
            std::string::npos);
  EXPECT_EQ(body.at("messages").at(1).at("content").as_string(), "ONE PIECEの105巻はいくら？");
  EXPECT_EQ(mock_.last_auth(), "Bearer sk-test");
}

TEST_F(OpenAiTest, RateLimitIsThrottlingWithItsRetryAfter) {
  mock_.set_mode("429");
  auto r = call();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorClass::kThrottling);
  EXPECT_EQ(r.error().code, "rate_limit_exceeded");
  EXPECT_EQ(r.error().retry_after, std::optional<core::Duration>(2s));
}

TEST_F(OpenAiTest, EveryBadWireInputIsAClassifiedError) {
  struct Case {
    const char* mode;
    ErrorClass kind;
    const char* code;
  };
  for (const Case& c : {Case{"truncated", ErrorClass::kTransient, "StreamTruncated"},
                        Case{"stream_error", ErrorClass::kTransient, "server_error"},
                        Case{"html", ErrorClass::kTransient, "HTTP502"},
                        Case{"empty200", ErrorClass::kUnknown, "EmptyResponse"}}) {
    mock_.set_mode(c.mode);
    std::vector<std::string> chunks;
    auto r = call(&chunks);
    ASSERT_FALSE(r.ok()) << c.mode;
    EXPECT_EQ(r.error().kind, c.kind) << c.mode;
    EXPECT_EQ(r.error().code, c.code) << c.mode;
  }
}

TEST_F(OpenAiTest, TheDeadlineBoundsASilentServer) {
  mock_.set_mode("slow");
  const auto start = std::chrono::steady_clock::now();
  auto r = call(nullptr, 300ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorClass::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(OpenAiTest, UsageComesFromTheStreamsLastChunk) {
  mock_.set_mode("usage");
  auto r = call();
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(r->text, "ONE PIECE 105巻は528円です。");
  EXPECT_EQ(r->input_tokens, 31);
  EXPECT_EQ(r->output_tokens, 7);
  EXPECT_TRUE(mock_.last_body().at("stream_options").at("include_usage").as_bool());
  // A server that sends no usage: estimated from the text and the request.
  mock_.set_mode("stream");
  auto e = call();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->output_tokens, estimate_tokens("ONE PIECE 105巻は528円です。"));
  EXPECT_GT(e->input_tokens, 0);
}

TEST_F(OpenAiTest, ContinueFromIsSentAsAFinalAssistantMessage) {
  std::vector<std::string> chunks;
  auto r = call(&chunks, 3s, [](ModelRequest& q) { q.continue_from = "ONE PIECE 105巻は"; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "ONE PIECE 105巻は528円です。");  // the stream, only
  const auto body = mock_.last_body();
  const auto& messages = body.at("messages").as_array();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[2].at("role").as_string(), "assistant");
  EXPECT_EQ(messages[2].at("content").as_string(), "ONE PIECE 105巻は");
}

TEST_F(OpenAiTest, TheAttemptBudgetsEndASilentOrStalledStream) {
  mock_.set_mode("slow");
  auto start = std::chrono::steady_clock::now();
  auto r = call(nullptr, 3s, [](ModelRequest& q) { q.first_token_timeout = 200ms; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorClass::kTimeout);
  EXPECT_EQ(r.error().code, "FirstTokenTimeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);

  mock_.set_mode("stall");
  std::vector<std::string> chunks;
  start = std::chrono::steady_clock::now();
  r = call(&chunks, 3s, [](ModelRequest& q) {
    q.first_token_timeout = 1s;
    q.idle_timeout = 200ms;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorClass::kTimeout);
  EXPECT_EQ(r.error().code, "StreamStalled");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_EQ(chunks.size(), 2u);
  EXPECT_EQ(r.error().output_tokens, estimate_tokens("ONE PIECE 105巻は528円です。"));
  EXPECT_GT(r.error().input_tokens, 0);
}

TEST_F(OpenAiTest, BadBaseUrlIsAConfigError) {
  const auto r = OpenAiCompatible::create({"ftp://x", "", "m", "sonnet", 10, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_config");
  // The message names the setting and why it is wrong.
  EXPECT_NE(r.error().message.find("OPENAI_BASE_URL"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("http://"), std::string::npos) << r.error().message;
  // A good URL is accepted: the error is about the URL, not something else in the config.
  EXPECT_TRUE(OpenAiCompatible::create({mock_.url(), "", "m", "sonnet", 10, ""}).ok());
}

TEST_F(OpenAiTest, TheGatewayStreamsARealEndpointsTextToAWebSocketClient) {
  server::AppConfig cfg = testing::test_config();
  cfg.primary_provider = cfg.secondary_provider = "openai";
  cfg.openai_primary.base_url = cfg.openai_secondary.base_url = mock_.url();
  cfg.openai_primary.model = "llama-3";
  auto app = server::App::create(cfg, clock_);
  ASSERT_TRUE(app.ok()) << app.error().message;
  EXPECT_EQ((*app)->simulated("sonnet"), nullptr);  // chaos does not apply to real models
  server::Server srv(**app, cfg.server);
  auto port = srv.listen();
  ASSERT_TRUE(port.ok());
  srv.start();
  {
    testing::WsClient ws(*port);
    ws.send(R"({"action":"sendMessage","message":"ONE PIECEの105巻はいくら？","request_id":"x"})");
    std::string streamed;
    for (;;) {
      auto m = ws.receive();
      if (m.at("type").as_string() == "chunk") {
        streamed += m.at("text").as_string();
        continue;
      }
      ASSERT_EQ(m.at("type").as_string(), "reply");
      EXPECT_EQ(m.at("tier").as_string(), "primary");
      EXPECT_EQ(m.at("reply").as_string(), "ONE PIECE 105巻は528円です。");
      break;
    }
    EXPECT_EQ(streamed, "ONE PIECE 105巻は528円です。");
    // The endpoint throttles: the reply comes from live data, not an error.
    mock_.set_mode("429");
    ws.send(R"({"action":"sendMessage","message":"ONE PIECEの104巻はいくら？","request_id":"y"})");
    for (;;) {
      auto m = ws.receive();
      if (m.at("type").as_string() != "reply") continue;
      EXPECT_EQ(m.at("tier").as_string(), "static");
      EXPECT_NE(std::string(m.at("reply").as_string()).find("528円"), std::string::npos);
      break;
    }
  }
  srv.shutdown();
  srv.join();
}

}  // namespace
}  // namespace ma::fm
