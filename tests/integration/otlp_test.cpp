// Kept traces reach an OpenTelemetry collector as OTLP/HTTP JSON: a mock collector on a
// loopback port receives them.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <thread>

#include "core/real_clock.hpp"
#include "integration/test_client.hpp"
#include "server/app.hpp"
#include "server/server.hpp"

namespace ma::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

// Accepts POSTs and keeps their bodies.
class MockCollector {
 public:
  MockCollector() : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ioc_, accept(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~MockCollector() {
    ioc_.stop();
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  // Waits (up to `limit`) for a body containing `needle`.
  bool wait_for_body(const std::string& needle, std::chrono::seconds limit, std::string& body) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] {
      for (const auto& b : bodies_) {
        if (b.find(needle) != std::string::npos) {
          body = b;
          return true;
        }
      }
      return false;
    });
  }
  std::string last_path() {
    std::lock_guard lock(mu_);
    return path_;
  }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
      asio::co_spawn(ioc_, serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(stream, buf, req, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    {
      std::lock_guard lock(mu_);
      bodies_.push_back(req.body());
      path_ = std::string(req.target());
    }
    cv_.notify_all();
    http::response<http::string_body> res{http::status::ok, 11};
    res.body() = "{}";
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  }

  asio::io_context ioc_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> bodies_;
  std::string path_;
};

TEST(OtlpTest, KeptTracesReachTheCollector) {
  MockCollector collector;
  core::RealClock clock;
  AppConfig cfg = default_config();
  cfg.data_dir = std::string(MA_SOURCE_DIR) + "/data";
  cfg.db_path = ":memory:";
  cfg.log_file.clear();
  cfg.trace_file.clear();
  cfg.otlp_endpoint = "http://127.0.0.1:" + std::to_string(collector.port()) + "/v1/traces";
  cfg.server.host = "127.0.0.1";
  cfg.server.port = 0;
  cfg.server.threads = 1;
  cfg.server.admin_token = "t";
  cfg.sonnet.latency_median = 1ms;
  cfg.haiku.latency_median = 1ms;
  auto app = App::create(cfg, clock);
  ASSERT_TRUE(app.ok()) << app.error().message;
  Server server(**app, cfg.server);
  auto port = server.listen();
  ASSERT_TRUE(port.ok());
  server.start();
  ASSERT_EQ(testing::http_request(*port, "POST", "/admin/chaos", R"({"model":"all","outage":true})",
                                  {{"Authorization", "Bearer t"}})
                .status,
            200);
  auto r = testing::http_request(*port, "POST", "/v1/chat", R"({"message":"Tell me a story"})");
  ASSERT_EQ(r.status, 200);
  std::string trace(json::parse(r.body).at("trace_id").as_string());  // 1-xxxxxxxx-yyyy...
  std::string otlp_id;
  for (char c : trace.substr(2)) {
    if (c != '-') otlp_id.push_back(c);
  }
  std::string body;
  const bool got = collector.wait_for_body(otlp_id, 10s, body);
  server.shutdown();
  server.join();
  ASSERT_TRUE(got) << "no OTLP export with trace " << otlp_id;
  EXPECT_EQ(collector.last_path(), "/v1/traces");
  const auto doc = json::parse(body);
  const auto& spans = doc.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array();
  ASSERT_GE(spans.size(), 3u);
  EXPECT_EQ(spans[0].at("traceId").as_string(), otlp_id);
  EXPECT_EQ(spans[0].at("name").as_string(), "chat");
  EXPECT_EQ(spans[0].at("status").at("code").as_int64(), 2);  // a degraded reply is an error span
  EXPECT_EQ(doc.at("resourceSpans")
                .at(0)
                .at("resource")
                .at("attributes")
                .at(0)
                .at("value")
                .at("stringValue")
                .as_string(),
            "mangaassist");
}

TEST(OtlpTest, EndpointsAreParsedAndHttpsIsRefusedClearly) {
  auto e = observe::OtlpEndpoint::parse("http://collector:4318/v1/traces");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "collector");
  EXPECT_EQ(e->port, "4318");
  EXPECT_EQ(e->path, "/v1/traces");
  EXPECT_FALSE(observe::OtlpEndpoint::parse("https://collector:4318").ok());
  EXPECT_FALSE(observe::OtlpEndpoint::parse("collector:4318").ok());
}

}  // namespace
}  // namespace ma::server
