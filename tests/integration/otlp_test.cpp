// Kept traces reach an OpenTelemetry collector as OTLP/HTTP JSON: a mock collector on a
// loopback port receives them.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/real_clock.hpp"
#include "integration/test_client.hpp"
#include "server/app.hpp"
#include "server/server.hpp"

namespace ma::server {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

TEST(OtlpTest, KeptTracesReachTheCollector) {
  testing::MockHttpServer collector(
      [](const auto&) { return testing::http_response(200, "OK", "{}"); });
  core::RealClock clock;
  AppConfig cfg = testing::test_config();
  cfg.otlp_endpoint = collector.base_url() + "/v1/traces";
  cfg.server.admin_token = "t";
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
  auto has_trace = [&](const testing::MockHttpServer::Request& r) {
    return r.body.find(otlp_id) != std::string::npos;
  };
  const bool got = collector.wait_for(has_trace, 10s);
  server.shutdown();
  server.join();
  ASSERT_TRUE(got) << "no OTLP export with trace " << otlp_id;
  std::string body;
  for (const auto& r : collector.requests()) {
    if (has_trace(r)) {
      EXPECT_EQ(r.target, "/v1/traces");
      EXPECT_EQ(r.method, "POST");
      body = r.body;
    }
  }
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
