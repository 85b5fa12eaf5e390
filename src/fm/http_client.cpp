#include "fm/http_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace ma::fm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

core::Result<Url> Url::parse(std::string_view url) {
  Url u;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    url.remove_prefix(8);
  } else if (url.rfind("http://", 0) == 0) {
    url.remove_prefix(7);
  } else {
    return core::fail("invalid_url", "a URL must start with http:// or https://");
  }
  const auto slash = url.find('/');
  const std::string_view hostport = url.substr(0, slash);
  u.path = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  const auto colon = hostport.rfind(':');
  const bool has_port =
      colon != std::string_view::npos && hostport.find(']') == std::string_view::npos;
  u.host = std::string(has_port ? hostport.substr(0, colon) : hostport);
  u.port = has_port ? std::string(hostport.substr(colon + 1)) : (u.tls ? "443" : "80");
  if (u.host.empty()) return core::fail("invalid_url", "a URL needs a host");
  return u;
}

namespace {

HttpError to_error(const boost::system::error_code& ec, std::string_view during) {
  if (ec == beast::error::timeout)
    return {"timeout", "no answer before the deadline (" + std::string(during) + ")"};
  if (ec == asio::error::connection_reset || ec == http::error::end_of_stream ||
      ec == asio::error::eof || ec == http::error::partial_message) {
    return {"connection_reset", "the connection closed during " + std::string(during)};
  }
  return {"io_error", std::string(during) + ": " + ec.message()};
}

template <class Stream>
asio::awaitable<core::Result<HttpResponse, HttpError>> exchange(
    Stream& stream, http::request<http::string_body>& req, const BodySink& sink) {
  auto [wec, wn] = co_await http::async_write(stream, req, kTuple);
  if (wec) co_return core::fail(to_error(wec, "the request"));
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto [hec, hn] = co_await http::async_read_header(stream, buf, parser, kTuple);
  if (hec) co_return core::fail(to_error(hec, "the response header"));
  HttpResponse res;
  res.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    res.headers[name] = std::string(f.value());
  }
  std::size_t consumed = 0;
  bool stop = false;
  while (!parser.is_done() && !stop) {
    auto [rec, rn] = co_await http::async_read_some(stream, buf, parser, kTuple);
    if (rec) co_return core::fail(to_error(rec, "the response body"));
    if (sink) {
      std::string& body = parser.get().body();
      if (body.size() > consumed) stop = !sink(std::string_view(body).substr(consumed));
      consumed = body.size();
    }
  }
  if (!sink) res.body = std::move(parser.get().body());
  co_return res;
}

}  // namespace

asio::awaitable<core::Result<HttpResponse, HttpError>> http_request(
    const Url& base, std::string method, std::string path,
    std::vector<std::pair<std::string, std::string>> headers, std::string body,
    core::Deadline deadline, BodySink body_sink) {
  auto ex = co_await asio::this_coro::executor;
  http::request<http::string_body> req{http::string_to_verb(method), base.path + path, 11};
  req.set(http::field::host, base.host);
  req.set(http::field::user_agent, "mangaassist");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();

  asio::ip::tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(base.host, base.port, kTuple);
  if (rec)
    co_return core::fail(
        HttpError{"connect_failed", "cannot resolve " + base.host + ": " + rec.message()});
  if (!base.tls) {
    beast::tcp_stream stream(ex);
    if (deadline.is_never()) {
      stream.expires_never();
    } else {
      stream.expires_at(deadline.at());
    }
    auto [cec, ep] = co_await stream.async_connect(results, kTuple);
    if (cec)
      co_return core::fail(
          HttpError{"connect_failed", "cannot connect to " + base.host + ":" + base.port});
    auto r = co_await exchange(stream, req, body_sink);
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    co_return r;
  }
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), base.host.c_str())) {
    co_return core::fail(HttpError{"tls_failed", "cannot set SNI"});
  }
  stream.set_verify_callback(ssl::host_name_verification(base.host));
  if (deadline.is_never()) {
    beast::get_lowest_layer(stream).expires_never();
  } else {
    beast::get_lowest_layer(stream).expires_at(deadline.at());
  }
  auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(results, kTuple);
  if (cec)
    co_return core::fail(
        HttpError{"connect_failed", "cannot connect to " + base.host + ":" + base.port});
  auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, kTuple);
  if (hec)
    co_return core::fail(
        HttpError{"tls_failed", "TLS handshake with " + base.host + ": " + hec.message()});
  co_return co_await exchange(stream, req, body_sink);
}

}  // namespace ma::fm
