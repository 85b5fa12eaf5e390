#pragma once
// One App and its Server on a loopback port, started and (in the destructor) shut down, for
// tests that need the real server but no more than test_config() plus an admin token.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "core/real_clock.hpp"
#include "integration/test_client.hpp"
#include "server/app.hpp"
#include "server/server.hpp"

namespace ma::testing {

class TestServer {
 public:
  // `configure` may change the configuration before the App is created.
  explicit TestServer(std::string admin_token,
                      const std::function<void(server::AppConfig&)>& configure = {})
      : admin_token_(std::move(admin_token)) {
    cfg_ = test_config();
    cfg_.server.admin_token = admin_token_;
    if (configure) configure(cfg_);
  }
  ~TestServer() {
    if (server_) {
      server_->shutdown();
      server_->join();
    }
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Creates the App; then start() makes the Server listen and run on its threads. Between
  // the two, a test may hook into the App (listeners, collectors).
  void create() {
    auto app = server::App::create(cfg_, clock_);
    ASSERT_TRUE(app.ok()) << app.error().message;
    app_ = std::move(app).value();
  }
  void start() {
    server_ = std::make_unique<server::Server>(*app_, cfg_.server);
    auto port = server_->listen();
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    server_->start();
  }

  // A request with the admin bearer token.
  HttpResult admin(const std::string& method, const std::string& target,
                   const std::string& body = "") {
    return http_request(port_, method, target, body, {{"Authorization", "Bearer " + admin_token_}});
  }

  server::App& app() { return *app_; }
  server::Server& server() { return *server_; }
  std::uint16_t port() const { return port_; }

 private:
  std::string admin_token_;
  server::AppConfig cfg_;
  core::RealClock clock_;
  std::unique_ptr<server::App> app_;
  // Declared after the App it serves: the server is destroyed first.
  std::unique_ptr<server::Server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace ma::testing
