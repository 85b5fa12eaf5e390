#pragma once
// A small blocking HTTP and WebSocket client for the integration tests (Boost.Beast).

#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/config.hpp"

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
  // Throws when the handshake fails (`handshake_status` then says how the server answered).
  // Reads the server's first frame (the status frame sent right after the handshake).
  WsClient(std::uint16_t port, const std::string& target = "/v1/ws",
           const std::map<std::string, std::string>& headers = {});
  ~WsClient();
  // That first frame: {"type":"status",...} (docs/api.md).
  const boost::json::value& greeting() const { return greeting_; }
  void send(const std::string& text);
  // The next message, parsed, past any status frame (pushed whenever the service's state
  // changes); throws after `timeout` without one.
  boost::json::value receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // The next message, whatever it is (status frames included).
  boost::json::value receive_any(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // The code of the close frame the server sent (0 when none).
  int close_code() const;
  // A header of the server's handshake response ("" when absent).
  std::string response_header(const std::string& name) const;
  // Writes `text` as fast as the server takes it, never reading, until a write fails or
  // `max_messages` were written; returns how many were written.
  std::size_t flood(const std::string& text, std::size_t max_messages);
  // Waits for the next control frame (a ping) or message; true for a ping.
  bool wait_for_ping(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  boost::json::value greeting_;
};

}  // namespace ma::testing

namespace ma::testing {

// A configuration for tests: the project's data, a throwaway catalog, no log or trace files,
// loopback on port 0, quick simulated models.
server::AppConfig test_config();

// A loopback HTTP server for tests that plays the other side (a collector, a model API).
// Each request is handed to `handler`, which returns the raw bytes to send back (status line,
// headers and body) -- or an empty string to answer nothing and wait `silence` first.
class MockHttpServer {
 public:
  struct Request {
    std::string method, target, body;
    std::map<std::string, std::string> headers;  // lower-case names
    int connection = 0;                          // which connection carried it (1, 2, ...)
  };
  using Handler = std::function<std::string(const Request&)>;

  explicit MockHttpServer(Handler handler);
  ~MockHttpServer();
  std::uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT"
  // Every request received so far.
  std::vector<Request> requests();
  // Waits up to `limit` for a request that `pred` accepts.
  bool wait_for(const std::function<bool(const Request&)>& pred, std::chrono::milliseconds limit);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "HTTP/1.1 <status>\r\n<headers>Content-Length: N\r\n\r\n<body>".
std::string http_response(int status, std::string_view reason, const std::string& body,
                          const std::string& extra_headers = "");

}  // namespace ma::testing
