#pragma once
// A small blocking HTTP and WebSocket client for the integration tests (Boost.Beast).

#include <boost/json/value.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ma::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  boost::json::value json() const;
};

// One request on a fresh connection. Throws on connection errors (a test failure).
HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = "",
                        const std::map<std::string, std::string>& headers = {});

// Sends raw bytes and returns what the server answered before closing (up to `timeout`).
std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

class WsClient {
 public:
  WsClient(std::uint16_t port, const std::string& target = "/v1/ws");
  ~WsClient();
  void send(const std::string& text);
  // The next message, parsed; throws after `timeout` without one.
  boost::json::value receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ma::testing
