#include "integration/test_client.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

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
  websocket::response_type handshake_response;
};

WsClient::WsClient(std::uint16_t port, const std::string& target,
                   const std::map<std::string, std::string>& headers)
    : impl_(std::make_unique<Impl>()) {
  beast::get_lowest_layer(impl_->ws).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(impl_->ws).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  beast::get_lowest_layer(impl_->ws).expires_never();
  impl_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [k, v] : headers) req.set(k, v);
  }));
  impl_->ws.handshake(impl_->handshake_response, "localhost:" + std::to_string(port), target);
  // The server's first frame, sent right after the handshake: the service status.
  greeting_ = receive_any(std::chrono::seconds(10));
}

std::string WsClient::response_header(const std::string& name) const {
  auto it = impl_->handshake_response.find(name);
  return it == impl_->handshake_response.end() ? std::string() : std::string(it->value());
}

std::size_t WsClient::flood(const std::string& text, std::size_t max_messages) {
  impl_->ws.text(true);
  beast::get_lowest_layer(impl_->ws).expires_after(std::chrono::seconds(60));
  std::size_t n = 0;
  boost::system::error_code ec;
  while (n < max_messages) {
    impl_->ws.write(asio::buffer(text), ec);
    if (ec) break;
    ++n;
  }
  beast::get_lowest_layer(impl_->ws).expires_never();
  return n;
}

bool WsClient::wait_for_ping(std::chrono::milliseconds timeout) {
  bool ping = false;
  impl_->ws.control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) ping = true;
  });
  beast::flat_buffer buf;
  bool done = false;
  impl_->ws.async_read(buf, [&](boost::system::error_code, std::size_t) { done = true; });
  impl_->ioc.restart();
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ping && !done && std::chrono::steady_clock::now() < until) {
    impl_->ioc.run_one_for(until - std::chrono::steady_clock::now());
  }
  if (!done) {
    beast::get_lowest_layer(impl_->ws).cancel();
    impl_->ioc.restart();
    impl_->ioc.run();
  }
  impl_->ws.control_callback();
  return ping;
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
  // The status frames the server pushes whenever the service's state changes may come
  // between any two frames: skipped here (receive_any has them).
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::max(std::chrono::milliseconds(1),
                               std::chrono::duration_cast<std::chrono::milliseconds>(
                                   until - std::chrono::steady_clock::now()));
    boost::json::value v = receive_any(left);
    const auto* o = v.if_object();
    const auto* type = o ? o->if_contains("type") : nullptr;
    if (type == nullptr || !type->is_string() || type->get_string() != "status") return v;
  }
}

boost::json::value WsClient::receive_any(std::chrono::milliseconds timeout) {
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

int WsClient::close_code() const { return static_cast<int>(impl_->ws.reason().code); }

}  // namespace ma::testing

namespace ma::testing {

server::AppConfig test_config() {
  server::AppConfig cfg = server::default_config();
  cfg.data_dir = std::string(MA_SOURCE_DIR) + "/data";
  cfg.db_path = ":memory:";
  cfg.log_file.clear();
  cfg.trace_file.clear();
  cfg.server.host = "127.0.0.1";
  cfg.server.port = 0;
  cfg.server.threads = 2;
  cfg.server.auth_secret = "integration-test-secret-0123456789";
  // Fast models with a short tail: with the default p99 (2.2 s) over a 1 ms median, about
  // one call in a hundred outlived the model deadline, and a test expecting a model's
  // answer failed now and then.
  cfg.sonnet.latency_median = std::chrono::milliseconds(1);
  cfg.sonnet.latency_p99 = std::chrono::milliseconds(20);
  cfg.haiku.latency_median = std::chrono::milliseconds(1);
  cfg.haiku.latency_p99 = std::chrono::milliseconds(20);
  return cfg;
}

std::string http_response(int status, std::string_view reason, const std::string& body,
                          const std::string& extra_headers) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct MockHttpServer::Impl {
  explicit Impl(Handler h)
      : handler(std::move(h)), acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {}
  Handler handler;
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Request> received;

  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(ioc, serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buf;
    const int conn = ++connections;
    // Keep-alive: requests are served in turn until the client closes, an answer says
    // "Connection: close", or the handler plays silence.
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] =
          co_await http::async_read(stream, buf, req, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      Request r{std::string(req.method_string()), std::string(req.target()), req.body(), {}, conn};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
      }
      {
        std::lock_guard lock(mu);
        received.push_back(r);
      }
      cv.notify_all();
      const std::string answer = handler(r);
      if (answer.empty()) {  // play a server that never answers
        asio::steady_timer t(stream.get_executor(), std::chrono::seconds(5));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return;
      }
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(answer),
                                                  asio::as_tuple(asio::use_awaitable));
      const std::string head = answer.substr(0, answer.find("\r\n\r\n"));
      if (wec || !req.keep_alive() || head.find("Connection: close") != std::string::npos) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  }
  std::atomic<int> connections{0};
};

MockHttpServer::MockHttpServer(Handler handler)
    : impl_(std::make_unique<Impl>(std::move(handler))) {
  asio::co_spawn(impl_->ioc, impl_->accept(), asio::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

MockHttpServer::~MockHttpServer() {
  impl_->ioc.stop();
  impl_->thread.join();
}

std::uint16_t MockHttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string MockHttpServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port());
}

std::vector<MockHttpServer::Request> MockHttpServer::requests() {
  std::lock_guard lock(impl_->mu);
  return impl_->received;
}

bool MockHttpServer::wait_for(const std::function<bool(const Request&)>& pred,
                              std::chrono::milliseconds limit) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, limit, [&] {
    return std::any_of(impl_->received.begin(), impl_->received.end(), pred);
  });
}

}  // namespace ma::testing
