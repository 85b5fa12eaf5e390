#include "integration/test_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <functional>
#include <stdexcept>

namespace ma::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

boost::json::value HttpResult::json() const { return boost::json::parse(body); }

HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body,
                        const std::map<std::string, std::string>& headers) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "localhost");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  // Async with a deadline: a server that never answers fails the test instead of hanging it.
  boost::system::error_code ec;
  http::async_write(stream, req, [&](boost::system::error_code e, std::size_t) {
    if (e) {
      ec = e;
      return;
    }
    http::async_read(stream, buf, parser,
                     [&](boost::system::error_code e2, std::size_t) { ec = e2; });
  });
  ioc.run();
  if (ec) throw boost::system::system_error(ec);
  auto res = parser.release();
  HttpResult out;
  out.status = res.result_int();
  out.body = res.body();
  for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
  return out;
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  boost::system::error_code ec;
  asio::write(stream, asio::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  std::function<void(boost::system::error_code, std::size_t)> on_read;
  on_read = [&](boost::system::error_code e, std::size_t n) {
    out.append(buf, n);
    if (!e) stream.async_read_some(asio::buffer(buf), on_read);
  };
  stream.async_read_some(asio::buffer(buf), on_read);
  ioc.run();
  return out;
}

struct WsClient::Impl {
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
};

WsClient::WsClient(std::uint16_t port, const std::string& target)
    : impl_(std::make_unique<Impl>()) {
  beast::get_lowest_layer(impl_->ws).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(impl_->ws).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  beast::get_lowest_layer(impl_->ws).expires_never();
  impl_->ws.handshake("localhost", target);
}

WsClient::~WsClient() {
  boost::system::error_code ec;
  impl_->ws.close(websocket::close_code::normal, ec);
}

void WsClient::send(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(asio::buffer(text));
}

boost::json::value WsClient::receive(std::chrono::milliseconds timeout) {
  beast::flat_buffer buf;
  bool done = false;
  boost::system::error_code ec;
  impl_->ws.async_read(buf, [&](boost::system::error_code e, std::size_t) {
    done = true;
    ec = e;
  });
  impl_->ioc.restart();
  impl_->ioc.run_for(timeout);
  if (!done) {
    beast::get_lowest_layer(impl_->ws).cancel();
    impl_->ioc.restart();
    impl_->ioc.run();
    throw std::runtime_error("no WebSocket message within the timeout");
  }
  if (ec) throw boost::system::system_error(ec);
  return boost::json::parse(beast::buffers_to_string(buf.data()));
}

}  // namespace ma::testing
