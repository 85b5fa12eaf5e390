#pragma once
// A small async HTTP/1.1 client for the model providers (Boost.Beast; TLS through OpenSSL
// with peer verification against the system store). Every operation is bound to the
// request's deadline; the body can be consumed as it streams (SSE, event-stream).
//
// NOTE: one connection per request for now (no pool); fine for loopback servers and the
// request rates one gateway task sends to a model. Pooling is the next step.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/deadline.hpp"
#include "core/result.hpp"

namespace ma::fm {

struct Url {
  bool tls = false;
  std::string host, port, path;  // path without a trailing slash ("" for the root)
  static core::Result<Url> parse(std::string_view url);
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // what the body sink did not take
};

// Called with each piece of the body as it arrives; return false to stop reading.
using BodySink = std::function<bool(std::string_view)>;

struct HttpError {
  std::string code;  // "connect_failed", "timeout", "tls_failed", "connection_reset", ...
  std::string message;
};

// Sends one request. `body_sink` null: the body is collected in the response.
boost::asio::awaitable<core::Result<HttpResponse, HttpError>> http_request(
    const Url& base, std::string method, std::string path,
    std::vector<std::pair<std::string, std::string>> headers, std::string body,
    core::Deadline deadline, BodySink body_sink = nullptr);

}  // namespace ma::fm
