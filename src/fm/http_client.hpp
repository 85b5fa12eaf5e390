#pragma once
// A small async HTTP/1.1 client for the model providers (Boost.Beast; TLS through OpenSSL
// with peer verification against the system store). Every operation is bound to the
// request's deadline; the body can be consumed as it streams (SSE, event-stream).
//
// Connections are kept alive and pooled per (scheme, host, port): a model call on a warm
// connection skips the TCP and TLS handshakes (two to three round trips to a regional
// endpoint). A pooled connection the server closed while idle is detected on reuse and the
// request is sent once more on a fresh connection, before any byte of a response was read.
//
// Idle connections belong to the io_context that opened them (an Asio service of it), so
// they close with it, whatever outlives what. request() may run concurrently from any
// thread, on any io_context.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/deadline.hpp"
#include "core/result.hpp"

namespace ma::fm {

struct Url {
  bool tls = false;
  std::string host, port, path;  // path without a trailing slash ("" for the root)
  static core::Result<Url> parse(std::string_view url);
  // The Host header: "host", or "host:port" when the port is not the scheme's default.
  std::string host_header() const;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // what the body sink did not take
};

// Called with each piece of a 2xx response's body as it arrives; return false to stop
// reading. Other responses are collected whole in HttpResponse::body.
using BodySink = std::function<bool(std::string_view)>;

struct HttpError {
  // "connect_failed", "timeout" (the deadline), "first_byte_timeout", "stream_stalled" (the
  // HttpTimeouts budgets), "cancelled", "tls_failed", "connection_reset", "io_error", ...
  std::string code;
  std::string message;
};

// An attempt's own budgets inside the request's deadline (zero: none; the deadline alone).
// - `first_byte`: the response must begin within it of the call to request(): connect, TLS,
//   send, the status line and headers and, for a 2xx body streamed to a sink, its first body
//   bytes. Past it: "first_byte_timeout".
// - `idle`: once a 2xx body streamed to a sink has begun, every read must bring bytes within
//   it of the previous one. Past it: "stream_stalled".
// The deadline bounds everything and wins when it comes first (or at the same time):
// "timeout". Each operation's expiry is the earliest that applies, set on the stream before
// it (no extra timer).
struct HttpTimeouts {
  core::Duration first_byte{};
  core::Duration idle{};
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;
using HttpResult = core::Result<HttpResponse, HttpError>;

struct HttpClientOptions {
  std::size_t max_idle_per_host = 32;
  // Idle connections older than this are closed rather than reused (servers commonly close
  // idle keep-alive connections after 60 s or more).
  core::Duration idle_timeout = std::chrono::seconds(30);
  bool verify_tls = true;
  // Extra trusted CA certificates (PEM), on top of the system store: a private CA in front
  // of a model endpoint (a VPC proxy, an internal gateway).
  std::string ca_file;
};

// Options with an extra trusted CA file (empty: the system store alone).
inline HttpClientOptions with_ca_file(std::string ca_file) {
  HttpClientOptions o;
  o.ca_file = std::move(ca_file);
  return o;
}

class HttpClient final {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request. `body_sink` null: the body is collected in the response. A body the
  // sink stopped (returned false), a failure and a cancellation close the connection.
  boost::asio::awaitable<HttpResult> request(const Url& base, std::string method, std::string path,
                                             HttpHeaders headers, std::string body,
                                             core::Deadline deadline, BodySink body_sink = nullptr,
                                             HttpTimeouts timeouts = {});

  struct Stats {
    std::uint64_t opened = 0;  // new connections
    std::uint64_t reused = 0;  // requests sent on a pooled connection
    std::uint64_t stale = 0;   // pooled connections found closed on reuse
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ma::fm
