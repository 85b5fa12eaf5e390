// `promtool check metrics` (Debian package prometheus) accepts what /metrics serves.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/real_clock.hpp"
#include "integration/test_client.hpp"
#include "server/app.hpp"
#include "server/server.hpp"

namespace ma::server {
namespace {

// Prometheus scrapes the admin listener (server.admin_port), which needs no token; the public
// port does not serve /metrics without the admin token.
TEST(PromtoolTest, MetricsPassPromtoolCheck) {
  core::RealClock clock;
  AppConfig cfg = testing::test_config();
  cfg.server.admin_port = 0;  // any free port
  auto app = App::create(cfg, clock);
  ASSERT_TRUE(app.ok()) << app.error().message;
  Server server(**app, cfg.server);
  auto port = server.listen();
  ASSERT_TRUE(port.ok());
  server.start();
  // Some traffic so that every family has series.
  for (const char* m : {"ONE PIECEの105巻はいくら？", "Recommend something like Naruto", "hello"}) {
    ASSERT_EQ(
        testing::http_request(*port, "POST", "/v1/chat", std::string("{\"message\":\"") + m + "\"}")
            .status,
        200);
  }
  EXPECT_EQ(testing::http_request(*port, "GET", "/metrics").status, 403);
  EXPECT_EQ(testing::http_request(*port, "GET", "/status").status, 403);
  ASSERT_NE(server.admin_port(), 0);
  const auto metrics = testing::http_request(server.admin_port(), "GET", "/metrics");
  EXPECT_EQ(testing::http_request(server.admin_port(), "GET", "/status").status, 200);
  server.shutdown();
  server.join();
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("mangaassist_request_duration_seconds_bucket"), std::string::npos);

  const std::string path =
      ::testing::TempDir() + "ma_metrics_" + std::to_string(::getpid()) + ".txt";
  std::ofstream(path) << metrics.body;
  const std::string cmd = "promtool check metrics < " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int rc = pclose(p);
  std::remove(path.c_str());
  EXPECT_EQ(rc, 0) << "promtool said:\n" << out;
}

}  // namespace
}  // namespace ma::server
