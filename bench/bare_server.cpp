// The ceiling the gateway is compared with (bench/scale.sh, bench/RESULTS.md): a bare
// Boost.Beast HTTP/1.1 server, one io_context per thread, each thread accepting on its own
// SO_REUSEPORT listener, answering every request with a fixed JSON body of the size of a
// gateway reply. No parsing of the body, no work: what HTTP over loopback costs by itself.
//
//   ma_bare_server PORT [THREADS=1] [BODY_BYTES=468]

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> session(tcp::socket socket, const std::string& body) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kTuple);
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "bare");
    res.set(http::field::content_type, "application/json; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = body;
    res.prepare_payload();
    auto [ec2, n2] = co_await http::async_write(stream, res, kTuple);
    if (ec2 || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(tcp::acceptor acceptor, const std::string& body) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec) continue;
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket), body), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PORT [THREADS=1] [BODY_BYTES=468]\n", argv[0]);
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
  const std::size_t body_bytes = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 468;
  std::string body = "{\"reply\":\"";
  body.append(body_bytes > body.size() + 2 ? body_bytes - body.size() - 2 : 0, 'x');
  body += "\"}";

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    tcp::acceptor a(*contexts.back());
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    a.open(ep.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    int one = 1;
    ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    a.bind(ep);
    a.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(*contexts.back(), accept_loop(std::move(a), body), asio::detached);
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&, i] { contexts[i]->run(); });
  contexts[0]->run();
  for (auto& t : pool) t.join();
}
