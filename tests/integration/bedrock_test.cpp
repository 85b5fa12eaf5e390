// The Bedrock Runtime provider against a mock server on a loopback port that speaks its wire
// format: SigV4 checked by the mock with botocore (an independent signer) and the aws-c-auth
// suite's credentials, Converse and ConverseStream (event-stream frames), every error shape of
// the contract and the bad inputs of the wire, then the gateway streaming a Bedrock answer to a
// WebSocket client and falling back when Bedrock throttles.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "core/real_clock.hpp"
#include "fm/bedrock_runtime.hpp"
#include "fm/eventstream.hpp"
#include "fm/provider_util.hpp"
#include "integration/test_client.hpp"
#include "integration/test_server.hpp"
#include "server/app.hpp"
#include "server/server.hpp"

namespace ma::fm {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using resilience::ErrorClass;

// The credentials of the aws-c-auth SigV4 suite (tests/data/sigv4/*/context.json).
constexpr const char* kKeyId = "AKIDEXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kHaiku = "anthropic.claude-3-haiku-20240307-v1:0";

std::string event(std::string_view type, const json::object& payload) {
  return encode_event_message({{":event-type", std::string(type)},
                               {":content-type", "application/json"},
                               {":message-type", "event"}},
                              json::serialize(payload));
}

std::string exception(std::string_view type, std::string_view message) {
  return encode_event_message({{":exception-type", std::string(type)},
                               {":content-type", "application/json"},
                               {":message-type", "exception"}},
                              json::serialize(json::object{{"message", message}}));
}

std::string delta(std::string_view text) {
  return event("contentBlockDelta", {{"contentBlockIndex", 0},
                                     {"delta", json::object{{"text", text}}},
                                     {"p", "abcdefgh"}});  // padding members are ignored
}

// Checks a request's SigV4 signature the way the service does, with an implementation
// independent of the one under test: botocore's SigV4Auth (tests/integration/sigv4_botocore.py,
// Debian's python3-botocore) signs the headers the gateway signed, with the same credentials,
// at the time the gateway signed (its x-amz-date), and the Authorization headers must be equal.
std::string verify_signature(const testing::MockHttpServer::Request& r, std::uint16_t port) {
  const std::string auth = r.headers.count("authorization") ? r.headers.at("authorization") : "";
  if (auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 0) != 0) return "no SigV4 header";
  if (auth.find("/us-west-2/bedrock/aws4_request") == std::string::npos) return "wrong scope";
  const auto sh = auth.find("SignedHeaders=");
  if (sh == std::string::npos) return "no SignedHeaders";
  const auto comma = auth.find(',', sh);
  const std::string signed_names = auth.substr(sh + 14, comma - sh - 14);
  const std::string date = r.headers.count("x-amz-date") ? r.headers.at("x-amz-date") : "";
  if (date.size() != 16) return "bad x-amz-date";
  const std::string token =
      r.headers.count("x-amz-security-token") ? r.headers.at("x-amz-security-token") : "";
  json::array headers;
  std::size_t pos = 0;
  while (pos <= signed_names.size()) {
    auto semi = signed_names.find(';', pos);
    if (semi == std::string::npos) semi = signed_names.size();
    const std::string name = signed_names.substr(pos, semi - pos);
    pos = semi + 1;
    if (!r.headers.count(name)) return "signed header missing: " + name;
    // botocore adds these two itself: the date from its (frozen) clock, the token from the
    // credentials; they must then come out signed exactly as the gateway signed them.
    if (name == "x-amz-date" || name == "x-amz-security-token") continue;
    headers.push_back(json::array{json::string(name), json::string(r.headers.at(name))});
  }
  const json::object in{
      {"method", r.method},   {"url", "http://127.0.0.1:" + std::to_string(port) + r.target},
      {"headers", headers},   {"body", r.body},
      {"access_key", kKeyId}, {"secret_key", kSecret},
      {"token", token},       {"region", "us-west-2"},
      {"service", "bedrock"}, {"amz_date", date}};
  static std::atomic<int> seq{0};
  const std::string path = ::testing::TempDir() + "/sigv4_botocore_" + std::to_string(::getpid()) +
                           "_" + std::to_string(seq++) + ".json";
  {
    std::ofstream f(path, std::ios::binary);
    f << json::serialize(in);
  }
  const std::string cmd = "/usr/bin/python3 " MA_SOURCE_DIR
                          "/tests/integration/sigv4_botocore.py < '" +
                          path + "' 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    const int status = ::pclose(p);
    std::remove(path.c_str());
    if (status != 0) return "botocore signer failed (scripts/install-deps.sh installs it): " + out;
  } else {
    std::remove(path.c_str());
    return "cannot run /usr/bin/python3";
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out != auth)
    return "signature mismatch: gateway sent\n  " + auth + "\nbotocore signs\n  " + out;
  return "";
}

class MockBedrock {
 public:
  void set_mode(std::string m) {
    std::lock_guard lock(mu_);
    mode_ = std::move(m);
  }
  std::string url() const { return server_.base_url(); }
  testing::MockHttpServer& server() { return server_; }
  // Verifies the signature of the last request received (botocore, run now: the handler
  // itself stays fast).
  std::string last_signature_problem() {
    const auto reqs = server_.requests();
    if (reqs.empty()) return "no request yet";
    return verify_signature(reqs.back(), server_.port());
  }

 private:
  static std::string stream_response(const std::string& body, bool close_early = false) {
    if (close_early) {
      return "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
             "Connection: close\r\n\r\n" +
             body;
    }
    return testing::http_response(200, "OK", body,
                                  "Content-Type: application/vnd.amazon.eventstream\r\n");
  }
  static std::string error(int status, const std::string& reason, const std::string& body,
                           const std::string& type_header = "") {
    std::string extra = "Content-Type: application/json\r\nx-amzn-RequestId: 6f1c-test\r\n";
    if (!type_header.empty()) extra += "x-amzn-ErrorType: " + type_header + "\r\n";
    return testing::http_response(status, reason, body, extra);
  }
  std::string answer(const testing::MockHttpServer::Request& r) {
    std::string mode;
    {
      std::lock_guard lock(mu_);
      mode = mode_;
    }
    const std::string start = event("messageStart", {{"role", "assistant"}});
    const std::string body = start + delta("ONE PIECE 105巻は") + delta("528円です。");
    const std::string stop =
        event("contentBlockStop", {{"contentBlockIndex", 0}}) +
        event("messageStop", {{"stopReason", "end_turn"}}) +
        event(
            "metadata",
            {{"usage", json::object{{"inputTokens", 42}, {"outputTokens", 9}, {"totalTokens", 51}}},
             {"metrics", json::object{{"latencyMs", 300}}}});
    if (mode == "stream") return stream_response(body + stop);
    if (mode == "converse") {
      return testing::http_response(
          200, "OK",
          R"({"output":{"message":{"role":"assistant","content":[{"text":"ONE PIECE 105巻は528円です。"}]}},"stopReason":"end_turn","usage":{"inputTokens":42,"outputTokens":9,"totalTokens":51},"metrics":{"latencyMs":300}})",
          "Content-Type: application/json\r\n");
    }
    if (mode == "throttle") {
      return error(429, "Too Many Requests",
                   R"({"message":"Too many requests, please wait before trying again."})",
                   "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/");
    }
    if (mode == "not_ready")
      return error(429, "Too Many Requests", R"({"message":"x"})", "ModelNotReadyException");
    if (mode == "validation_type") {
      return error(400, "Bad Request",
                   R"({"__type":"com.amazon.coral.validate#ValidationException","message":"bad"})");
    }
    if (mode == "denied")
      return error(403, "Forbidden", R"({"message":"no"})", "AccessDeniedException");
    if (mode == "model_error")
      return error(424, "Failed Dependency",
                   R"({"message":"model failed","originalStatusCode":500})", "ModelErrorException");
    if (mode == "unavailable")
      return error(503, "Service Unavailable", R"({"message":"down"})",
                   "ServiceUnavailableException");
    if (mode == "new_format")
      return error(400, "Bad Request", R"({"errorInfo":{"kind":"漢字検索エラー"}})");
    if (mode == "html") {
      return testing::http_response(502, "Bad Gateway", "<html><body>502 Bad Gateway</body></html>",
                                    "Content-Type: text/html\r\n");
    }
    if (mode == "empty200") return stream_response("");
    if (mode == "bad_crc") {
      std::string bad = body + stop;
      bad[start.size() + 20] ^= 0x5a;  // inside the first delta's headers
      return stream_response(bad);
    }
    if (mode == "oversized") {
      std::string frame = delta("x");
      frame[0] = 0x7f;  // declares a 2 GiB message
      return stream_response(start + frame);
    }
    if (mode == "truncated") {
      const std::string whole = body + stop;
      return stream_response(whole.substr(0, start.size() + 30), true);
    }
    if (mode == "no_stop") return stream_response(body, true);
    if (mode == "stall") {
      // Two deltas, then silence on an open connection (no length: the body runs to EOF).
      return "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n\r\n" + body;
    }
    if (mode == "stream_throttle")
      return stream_response(body + exception("throttlingException", "slow down"));
    if (mode == "stream_model_error") {
      return stream_response(body + exception("modelStreamErrorException", "the model failed"));
    }
    return "";  // "silent"
  }

  std::mutex mu_;
  std::string mode_ = "stream";
  testing::MockHttpServer server_{[this](const auto& r) { return answer(r); }};
};

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

class BedrockTest : public ::testing::Test {
 protected:
  std::unique_ptr<BedrockRuntime> provider(bool stream = true,
                                           std::map<std::string, std::string> env = {}) {
    if (env.empty()) env = {{"AWS_ACCESS_KEY_ID", kKeyId}, {"AWS_SECRET_ACCESS_KEY", kSecret}};
    BedrockConfig c;
    c.region = "us-west-2";
    c.endpoint = mock_.url();
    c.model_id = kHaiku;
    c.lane = "haiku";
    c.stream = stream;
    c.max_tokens = 300;
    auto p = BedrockRuntime::create(c, clock_, fake_env(env));
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return std::move(p).value();
  }
  ModelResult call(BedrockRuntime& p, std::vector<std::string>* chunks = nullptr,
                   core::Duration budget = 3s) {
    return call_with(p, chunks, budget, {});
  }
  // A call whose request `adjust` changes (budgets, continue_from), and whose co_spawn is
  // bound to `signal` when given, the way the pipeline runs a hedge: its coroutine does not
  // throw on cancellation unless `throw_if_cancelled`. `on_chunk` sees each chunk's number.
  ModelResult call_with(BedrockRuntime& p, std::vector<std::string>* chunks, core::Duration budget,
                        const std::function<void(ModelRequest&)>& adjust,
                        asio::cancellation_signal* signal = nullptr,
                        const std::function<void(std::size_t)>& on_chunk = {},
                        bool throw_if_cancelled = false) {
    ModelRequest req;
    req.lang = Language::kJa;
    req.system = "あなたは漫画ストアのアシスタントです。";
    req.turns = {{"user", "ONE PIECEの104巻はいくら？"},
                 {"assistant", "528円です。"},
                 {"user", "ONE PIECEの105巻はいくら？"}};
    static const Facts facts{{"ONE PIECE 105巻は528円（税込）です。"}, ""};
    req.facts = &facts;
    req.deadline = core::Deadline::after(clock_, budget);
    if (adjust) adjust(req);
    std::optional<ModelResult> out;
    std::size_t seen = 0;
    auto task = [&]() -> asio::awaitable<void> {
      co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
      out = co_await p.invoke(req, [&](std::string_view t) {
        if (chunks) chunks->emplace_back(t);
        if (on_chunk) on_chunk(++seen);
      });
    };
    io_.restart();
    if (signal != nullptr) {
      asio::co_spawn(io_, task(), asio::bind_cancellation_slot(signal->slot(), asio::detached));
    } else {
      asio::co_spawn(io_, task(), asio::detached);
    }
    io_.run();
    EXPECT_TRUE(out.has_value()) << "invoke threw";
    if (!out) return core::fail(ModelError{ErrorClass::kUnknown, "Threw"});
    return std::move(out).value();
  }
  // The gateway's configuration with this mock as its Bedrock primary (the credentials of
  // the SigV4 suite in the environment) and the simulated model as its secondary.
  server::AppConfig gateway_config() {
    ::setenv("AWS_ACCESS_KEY_ID", kKeyId, 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", kSecret, 1);
    ::unsetenv("AWS_BEARER_TOKEN_BEDROCK");
    server::AppConfig cfg = testing::test_config();
    cfg.primary_provider = "bedrock";
    cfg.bedrock_primary.endpoint = mock_.url();
    cfg.bedrock_primary.region = "us-west-2";
    for (auto& plan : cfg.admission.plans) plan = {100, 100, 0};  // one chatty test user
    return cfg;
  }
  // Asks the price of ONE PIECE volume `volume` over `ws`; the reply, past any chunks.
  static json::value ask_volume(testing::WsClient& ws, int volume) {
    ws.send(R"({"action":"sendMessage","message":"ONE PIECEの)" + std::to_string(volume) +
            R"(巻はいくら？"})");
    json::value m;
    do {
      m = ws.receive();
    } while (m.at("type").as_string() == "chunk");
    return m;
  }
  asio::io_context io_;
  MockBedrock mock_;
  core::RealClock clock_;
};

TEST_F(BedrockTest, ConverseStreamIsSignedAndStreamsTheText) {
  auto p = provider();
  std::vector<std::string> chunks;
  auto r = call(*p, &chunks);
  ASSERT_TRUE(r.ok()) << r.error().code << " " << r.error().message;
  EXPECT_EQ(r->text, "ONE PIECE 105巻は528円です。");
  EXPECT_EQ(chunks, (std::vector<std::string>{"ONE PIECE 105巻は", "528円です。"}));
  EXPECT_EQ(r->input_tokens, 42);
  EXPECT_EQ(r->output_tokens, 9);
  EXPECT_EQ(mock_.last_signature_problem(), "");

  const auto req = mock_.server().requests().back();
  // The model id is one encoded path segment (and signed double-encoded, checked above).
  EXPECT_EQ(req.target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
  EXPECT_EQ(req.headers.at("host"), "127.0.0.1:" + std::to_string(mock_.server().port()));
  const auto body = json::parse(req.body);
  const auto& messages = body.at("messages").as_array();
  ASSERT_EQ(messages.size(), 3u);  // the conversation's earlier turns come along
  EXPECT_EQ(messages[1].at("role").as_string(), "assistant");
  EXPECT_EQ(messages[2].at("content").at(0).at("text").as_string(), "ONE PIECEの105巻はいくら？");
  const std::string system(body.at("system").at(0).at("text").as_string());
  EXPECT_NE(system.find("528円（税込）"), std::string::npos);
  EXPECT_EQ(body.at("inferenceConfig").at("maxTokens").as_int64(), 300);
}

TEST_F(BedrockTest, ConverseWithoutStreamingAndASessionToken) {
  auto p = provider(false, {{"AWS_ACCESS_KEY_ID", kKeyId},
                            {"AWS_SECRET_ACCESS_KEY", kSecret},
                            {"AWS_SESSION_TOKEN", "token-123"}});
  mock_.set_mode("converse");
  auto r = call(*p);
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(r->text, "ONE PIECE 105巻は528円です。");
  const auto req = mock_.server().requests().back();
  EXPECT_EQ(req.target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
  EXPECT_EQ(req.headers.at("x-amz-security-token"), "token-123");
  EXPECT_EQ(mock_.last_signature_problem(), "");  // the token is signed too
}

TEST_F(BedrockTest, ABedrockApiKeyIsSentAsABearerToken) {
  auto p = provider(true, {{"AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-xyz"},
                           {"AWS_ACCESS_KEY_ID", kKeyId},
                           {"AWS_SECRET_ACCESS_KEY", kSecret}});
  EXPECT_EQ(p->auth().source, "AWS_BEARER_TOKEN_BEDROCK");
  ASSERT_TRUE(call(*p).ok());
  EXPECT_EQ(mock_.server().requests().back().headers.at("authorization"),
            "Bearer bedrock-api-key-xyz");
}

TEST_F(BedrockTest, ConnectionsAreKeptAliveAndReused) {
  auto p = provider();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(call(*p).ok());
  const auto reqs = mock_.server().requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (const auto& r : reqs) EXPECT_EQ(r.connection, reqs.front().connection);
  EXPECT_EQ(p->http().stats().opened, 1u);
  EXPECT_EQ(p->http().stats().reused, 3u);
  // A stream cut mid-answer closes its connection; the next request opens a fresh one.
  mock_.set_mode("no_stop");
  EXPECT_FALSE(call(*p).ok());
  mock_.set_mode("stream");
  ASSERT_TRUE(call(*p).ok());
  EXPECT_NE(mock_.server().requests().back().connection, reqs.front().connection);
}

TEST_F(BedrockTest, EveryErrorAndBadWireInputIsClassified) {
  struct Case {
    const char* mode;
    ErrorClass kind;
    const char* code;
  };
  auto p = provider();
  for (const Case& c : {
           Case{"throttle", ErrorClass::kThrottling, "ThrottlingException"},
           Case{"not_ready", ErrorClass::kThrottling, "ModelNotReadyException"},
           Case{"validation_type", ErrorClass::kClient, "ValidationException"},
           Case{"denied", ErrorClass::kClient, "AccessDeniedException"},
           Case{"model_error", ErrorClass::kTransient, "ModelErrorException"},
           Case{"unavailable", ErrorClass::kTransient, "ServiceUnavailableException"},
           Case{"new_format", ErrorClass::kUnknown, "HTTP400"},
           Case{"html", ErrorClass::kTransient, "HTTP502"},
           Case{"empty200", ErrorClass::kUnknown, "EmptyResponse"},
           Case{"bad_crc", ErrorClass::kUnknown, "CorruptEventStream"},
           Case{"oversized", ErrorClass::kUnknown, "CorruptEventStream"},
           Case{"truncated", ErrorClass::kTransient, "StreamTruncated"},
           Case{"no_stop", ErrorClass::kTransient, "StreamTruncated"},
           Case{"stream_throttle", ErrorClass::kThrottling, "ThrottlingException"},
           Case{"stream_model_error", ErrorClass::kTransient, "ModelStreamErrorException"},
       }) {
    mock_.set_mode(c.mode);
    auto r = call(*p);
    ASSERT_FALSE(r.ok()) << c.mode;
    EXPECT_EQ(r.error().kind, c.kind) << c.mode << " " << r.error().code;
    EXPECT_EQ(r.error().code, c.code) << c.mode;
  }
}

TEST_F(BedrockTest, TheDeadlineBoundsASilentEndpoint) {
  auto p = provider();
  mock_.set_mode("silent");
  const auto start = std::chrono::steady_clock::now();
  auto r = call(*p, nullptr, 300ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorClass::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(BedrockTest, AFirstTokenBudgetEndsASilentCallLongBeforeTheDeadline) {
  auto p = provider();
  mock_.set_mode("silent");
  const auto start = std::chrono::steady_clock::now();
  auto r = call_with(*p, nullptr, 3s, [](ModelRequest& q) { q.first_token_timeout = 200ms; });
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorClass::kTimeout);
  EXPECT_EQ(r.error().code, "FirstTokenTimeout");
  EXPECT_EQ(r.error().raw_code, "first_byte_timeout");
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 1500ms);  // the deadline was 3 s away
  EXPECT_EQ(r.error().output_tokens, 0);
}

TEST_F(BedrockTest, AStreamThatStallsIsStreamStalledWithItsTextBilled) {
  auto p = provider();
  mock_.set_mode("stall");
  std::vector<std::string> chunks;
  const auto start = std::chrono::steady_clock::now();
  auto r = call_with(*p, &chunks, 3s, [](ModelRequest& q) {
    q.first_token_timeout = 1s;
    q.idle_timeout = 200ms;
  });
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorClass::kTimeout);
  EXPECT_EQ(r.error().code, "StreamStalled");
  EXPECT_EQ(chunks, (std::vector<std::string>{"ONE PIECE 105巻は", "528円です。"}));
  EXPECT_LT(took, 1500ms);
  // No metadata event came: the usage is estimated (the streamed text, the request body).
  EXPECT_EQ(r.error().output_tokens, estimate_tokens("ONE PIECE 105巻は528円です。"));
  EXPECT_GT(r.error().output_tokens, 0);
  EXPECT_GT(r.error().input_tokens, 0);
  // A cut stream bills the same way; a whole one bills what Bedrock reported.
  mock_.set_mode("no_stop");
  auto cut = call(*p);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().code, "StreamTruncated");
  EXPECT_EQ(cut.error().output_tokens, r.error().output_tokens);
  EXPECT_EQ(cut.error().input_tokens, r.error().input_tokens);
}

// A hedge's loser: the pipeline emits terminal cancellation on the signal bound to the
// coroutine that awaits invoke. Whether the signal comes while the read is pending (the
// operation is aborted) or while the chunk sink runs (seen before the next read), with or
// without throw_if_cancelled, the call returns "Cancelled" at once and its connection is
// closed, not pooled: the next call opens a fresh one.
TEST_F(BedrockTest, ACancelledStreamReturnsPromptlyAndItsConnectionIsNotReused) {
  struct Case {
    bool from_sink;
    bool throw_if_cancelled;
  };
  for (const Case c : {Case{false, false}, Case{true, false}, Case{false, true}}) {
    SCOPED_TRACE(std::to_string(c.from_sink) + std::to_string(c.throw_if_cancelled));
    // Idle connections are pooled per io_context: each round starts from the last one's.
    auto p = provider();
    mock_.set_mode("stream");
    ASSERT_TRUE(call(*p).ok());  // a pooled connection
    const auto before = p->http().stats();
    mock_.set_mode("stall");
    asio::cancellation_signal signal;
    std::vector<std::string> chunks;
    const auto start = std::chrono::steady_clock::now();
    auto r = call_with(
        *p, &chunks, 3s, {}, &signal,
        [&](std::size_t n) {
          if (n != 2) return;
          if (c.from_sink) {
            signal.emit(asio::cancellation_type::terminal);
          } else {
            asio::post(io_, [&] { signal.emit(asio::cancellation_type::terminal); });
          }
        },
        c.throw_if_cancelled);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "Cancelled");
    EXPECT_EQ(r.error().kind, ErrorClass::kTransient);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_EQ(chunks.size(), 2u);
    EXPECT_GT(r.error().output_tokens, 0);               // the text so far, estimated
    EXPECT_EQ(p->http().stats().opened, before.opened);  // it ran on the pooled connection
    EXPECT_EQ(p->http().stats().reused, before.reused + 1);
    mock_.set_mode("stream");
    ASSERT_TRUE(call(*p).ok());
    // The cancelled connection was not pooled: the next call opened a fresh one.
    EXPECT_EQ(p->http().stats().opened, before.opened + 1);
    EXPECT_EQ(p->http().stats().reused, before.reused + 1);
    const auto reqs = mock_.server().requests();
    EXPECT_NE(reqs.back().connection, reqs[reqs.size() - 2].connection);
  }
}

TEST_F(BedrockTest, ContinueFromIsSentAsAFinalAssistantTurn) {
  auto p = provider();
  std::vector<std::string> chunks;
  auto r =
      call_with(*p, &chunks, 3s, [](ModelRequest& q) { q.continue_from = "ONE PIECE 105巻は \n"; });
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(r->text, "ONE PIECE 105巻は528円です。");  // what the model streamed, only
  const auto body = json::parse(mock_.server().requests().back().body);
  const auto& messages = body.at("messages").as_array();
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[3].at("role").as_string(), "assistant");
  // Trailing white space dropped: Bedrock refuses a final assistant turn ending with it.
  EXPECT_EQ(messages[3].at("content").at(0).at("text").as_string(), "ONE PIECE 105巻は");
  EXPECT_EQ(mock_.last_signature_problem(), "");
}

TEST(AwsAuthTest, CredentialsComeFromTheProfileFileWhenTheEnvironmentHasNone) {
  const std::string path = ::testing::TempDir() + "/aws_credentials";
  {
    std::ofstream f(path);
    f << "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n"
         "[manga]\naws_access_key_id=AKIDMANGA\naws_secret_access_key=s2\naws_session_token=t\n";
  }
  auto a = resolve_aws_auth(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", path}}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->sigv4->access_key_id, "AKIDDEFAULT");
  auto b = resolve_aws_auth(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", path}}), "manga");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->sigv4->session_token, "t");
  auto c = resolve_aws_auth(
      fake_env({{"AWS_SHARED_CREDENTIALS_FILE", path}, {"AWS_PROFILE", "missing"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("no profile [missing]"), std::string::npos);
  EXPECT_EQ(c.error().message.find("s1"), std::string::npos);  // never a secret
  EXPECT_EQ(resolve_region(fake_env({{"AWS_DEFAULT_REGION", "ap-northeast-1"}}), "us-east-1"),
            "ap-northeast-1");
  EXPECT_EQ(resolve_bedrock_endpoint(fake_env({}), "", "ap-northeast-1"),
            "https://bedrock-runtime.ap-northeast-1.amazonaws.com");
  EXPECT_EQ(resolve_bedrock_endpoint(
                fake_env({{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:1"}}), "", "x"),
            "http://127.0.0.1:1");
}

// The gateway with Bedrock as its primary lane and the simulated model as its secondary:
// streamed text reaches a WebSocket client; when Bedrock throttles, retries are bounded as
// configured, the reply comes from the secondary, and the breaker stops calling Bedrock.
TEST_F(BedrockTest, TheGatewayStreamsBedrockAndFallsBackWhenItThrottles) {
  ::setenv("AWS_ACCESS_KEY_ID", kKeyId, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", kSecret, 1);
  ::unsetenv("AWS_BEARER_TOKEN_BEDROCK");
  ::unsetenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
  ::unsetenv("AWS_ENDPOINT_URL");
  ::unsetenv("AWS_REGION");
  ::unsetenv("AWS_DEFAULT_REGION");
  server::AppConfig cfg = testing::test_config();
  cfg.primary_provider = "bedrock";
  cfg.bedrock_primary.endpoint = mock_.url();
  cfg.bedrock_primary.region = "us-west-2";
  cfg.pipeline.retry.max_attempts = 2;
  cfg.pipeline.stagger_max = 0ms;
  cfg.pipeline.breaker.minimum_calls = 4;
  cfg.pipeline.breaker.window_type = resilience::WindowType::kCountBased;
  cfg.pipeline.breaker.window_size = 4;
  cfg.pipeline.breaker.wait_in_open = 60s;
  // Keep the adaptive client limiter out of the way: its floor rate would otherwise skip the
  // retry after a throttle (that behaviour has its own tests).
  cfg.pipeline.adaptive.min_fill_rate = 1000;
  cfg.pipeline.adaptive.min_capacity = 1000;
  for (auto& plan : cfg.admission.plans) plan = {100, 100, 0};  // one chatty test user
  auto app = server::App::create(cfg, clock_);
  ASSERT_TRUE(app.ok()) << app.error().message;
  server::Server srv(**app, cfg.server);
  auto port = srv.listen();
  ASSERT_TRUE(port.ok());
  srv.start();
  auto ask = [&](testing::WsClient& ws, const std::string& volume, std::string* streamed) {
    ws.send(R"({"action":"sendMessage","message":"ONE PIECEの)" + volume + R"(巻はいくら？"})");
    for (;;) {
      auto m = ws.receive();
      if (m.at("type").as_string() == "chunk") {
        if (streamed) *streamed += m.at("text").as_string();
        continue;
      }
      EXPECT_TRUE(m.as_object().contains("tier")) << json::serialize(m);
      if (!m.as_object().contains("tier")) m.as_object()["tier"] = "none";
      return m;
    }
  };
  {
    testing::WsClient ws(*port);
    std::string streamed;
    auto m = ask(ws, "105", &streamed);
    EXPECT_EQ(m.at("tier").as_string(), "primary");
    EXPECT_EQ(m.at("reply").as_string(), "ONE PIECE 105巻は528円です。");
    EXPECT_EQ(streamed, "ONE PIECE 105巻は528円です。");
    EXPECT_EQ(mock_.last_signature_problem(), "");

    mock_.set_mode("throttle");
    const std::size_t before = mock_.server().requests().size();
    auto t = ask(ws, "104", nullptr);
    EXPECT_EQ(t.at("tier").as_string(), "secondary");
    EXPECT_EQ(mock_.server().requests().size() - before, 2u);  // max_attempts = 2
    // Throttled until the breaker opens (4 calls, all failed); then Bedrock is left alone.
    for (int v = 90; v < 96; ++v) {
      auto f = ask(ws, std::to_string(v), nullptr);
      EXPECT_NE(f.at("tier").as_string(), "primary");
    }
    const std::size_t after_open = mock_.server().requests().size();
    for (int v = 80; v < 84; ++v) ask(ws, std::to_string(v), nullptr);
    EXPECT_EQ(mock_.server().requests().size(), after_open);
    EXPECT_EQ((*app)->pipeline().status().models[0].breaker, resilience::BreakerState::kOpen);
  }
  srv.shutdown();
  srv.join();
}

// The gateway with a Bedrock primary that accepts the call and sends nothing (a hung
// endpoint) and the simulated model as its secondary: the primary is hedged once its hedge
// delay passes, the secondary's answer is the reply, well inside the 3 s deadline, and the
// hung call is cancelled (the reply could not come before the primary's call ended: the
// cascade waits for both sides).
TEST_F(BedrockTest, TheGatewayHedgesAHungBedrockPrimaryAndCancelsIt) {
  server::AppConfig cfg = gateway_config();
  cfg.pipeline.hedge.after = 300ms;
  testing::TestServer srv("admin-token-hedge", [&](server::AppConfig& c) {
    cfg.server.admin_token = c.server.admin_token;
    c = cfg;
  });
  srv.create();
  srv.start();
  mock_.set_mode("silent");
  testing::WsClient ws(srv.port());
  const auto start = std::chrono::steady_clock::now();
  ws.send(R"({"action":"sendMessage","message":"ONE PIECEの105巻はいくら？"})");
  json::value m;
  std::string chunk_models;
  for (;;) {
    m = ws.receive();
    if (m.at("type").as_string() != "chunk") break;
    chunk_models += std::string(m.at("model").as_string()) + " ";
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(m.at("tier").as_string(), "secondary") << json::serialize(m);
  EXPECT_EQ(m.at("model").as_string(), "haiku");
  EXPECT_LT(took, 2s);  // 300 ms to the hedge, then the secondary (a 3 s deadline)
  EXPECT_EQ(chunk_models.find("sonnet"), std::string::npos) << chunk_models;
  EXPECT_EQ(mock_.server().requests().size(), 1u);
  const auto lanes = srv.app().pipeline().lane_counters();
  EXPECT_EQ(lanes[1].hedges, 1u);
  EXPECT_EQ(lanes[1].hedge_wins, 1u);
  // The cancelled call's connection was closed, not pooled: the next call opens another.
  mock_.set_mode("stream");
  ask_volume(ws, 104);
  const auto reqs = mock_.server().requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[1].connection, reqs[0].connection);
}

// A healthy Bedrock primary (answering at once over loopback): no hedge is ever made, one
// upstream call per message.
TEST_F(BedrockTest, AHealthyBedrockPrimaryIsNeverHedged) {
  testing::TestServer srv("admin-token-healthy", [&](server::AppConfig& c) {
    const std::string token = c.server.admin_token;
    c = gateway_config();
    c.server.admin_token = token;
  });
  srv.create();
  srv.start();
  testing::WsClient ws(srv.port());
  const int n = 30;
  for (int v = 1; v <= n; ++v) {
    const json::value m = ask_volume(ws, v);
    EXPECT_EQ(m.at("tier").as_string(), "primary") << json::serialize(m);
  }
  const auto lanes = srv.app().pipeline().lane_counters();
  EXPECT_EQ(lanes[1].hedges, 0u);
  EXPECT_EQ(lanes[1].calls, 0u);
  EXPECT_EQ(mock_.server().requests().size(), static_cast<std::size_t>(n));
}

// Wrong credentials on the Bedrock lane: within 20 messages the lane is marked misconfigured
// (/status says so and the state is no longer normal, the alarm fires), the request path
// stops calling it, a background probe keeps asking, and the lane is back once a probe
// succeeds.
TEST_F(BedrockTest, WrongCredentialsMarkTheBedrockLaneMisconfiguredUntilAProbeSucceeds) {
  server::AppConfig cfg = gateway_config();
  cfg.pipeline.probe_interval = 200ms;
  testing::TestServer srv("admin-token-creds", [&](server::AppConfig& c) {
    cfg.server.admin_token = c.server.admin_token;
    c = cfg;
  });
  srv.create();
  srv.start();
  mock_.set_mode("denied");  // 403 AccessDeniedException on every call
  auto status = [&] { return srv.admin("GET", "/status").json(); };
  auto lane = [&](const json::value& st) { return st.at("model_details").at(0); };
  testing::WsClient ws(srv.port());
  auto ask = [&](int v) { return ask_volume(ws, v); };
  int marked_after = 0;
  for (int i = 1; i <= 20 && marked_after == 0; ++i) {
    const auto m = ask(80 + i);
    EXPECT_NE(m.at("tier").as_string(), "primary");
    if (lane(status()).at("availability").as_string() == "misconfigured") marked_after = i;
  }
  ASSERT_GT(marked_after, 0) << "not marked within 20 messages";
  const auto st = status();
  EXPECT_EQ(lane(st).at("misconfigured_code").as_string(), "AccessDeniedException");
  EXPECT_NE(st.at("state").as_string(), "normal");
  EXPECT_NE(json::serialize(st.at("alarms_firing")).find("lane_misconfigured"), std::string::npos)
      << json::serialize(st.at("alarms_firing"));

  // No more calls from the request path (probes aside, which carry "ping").
  auto from_requests = [&] {
    std::size_t n = 0;
    for (const auto& r : mock_.server().requests()) n += r.body.find("ping") == std::string::npos;
    return n;
  };
  const std::size_t calls = from_requests();
  for (int v = 60; v < 65; ++v) EXPECT_EQ(ask(v).at("model").as_string(), "haiku");
  EXPECT_EQ(from_requests(), calls);

  // Fixed (the credentials rotated): the next probe succeeds and the lane is back. The probe
  // interval doubles from 200 ms while the lane stays broken; /status is polled, bounded.
  mock_.set_mode("stream");
  const auto limit = std::chrono::steady_clock::now() + 15s;
  bool back = false;
  while (!back && std::chrono::steady_clock::now() < limit)
    back = lane(status()).at("availability").as_string() == "available";
  EXPECT_TRUE(back);
  EXPECT_EQ(ask(50).at("tier").as_string(), "primary");
}

}  // namespace
}  // namespace ma::fm
