// Open-loop load generator for /v1/chat (bench/load.sh): sends at a fixed rate from N
// keep-alive connections on loopback and reports the latency distribution in microseconds,
// measured from the scheduled send time (so a slow server cannot hide queueing: no
// coordinated omission). Usage: ma_loadgen PORT RATE SECONDS CONNECTIONS MESSAGE
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: ma_loadgen PORT RATE SECONDS CONNECTIONS MESSAGE\n");
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  const double rate = std::atof(argv[2]);
  const double seconds = std::atof(argv[3]);
  const int conns = std::atoi(argv[4]);
  const std::string body = std::string("{\"message\":\"") + argv[5] + "\"}";
  asio::io_context ioc(1);
  std::vector<double> lat_us;
  int errors = 0, non200 = 0;
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const long total = static_cast<long>(rate * seconds);
  auto conn = [&](int id) -> asio::awaitable<void> {
    beast::tcp_stream stream(co_await asio::this_coro::executor);
    co_await stream.async_connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
    stream.socket().set_option(asio::ip::tcp::no_delay(true));
    beast::flat_buffer buf;
    asio::steady_timer timer(stream.get_executor());
    for (long i = id; i < total; i += conns) {
      const auto due = start + std::chrono::nanoseconds(
                                   static_cast<long long>(1e9 * static_cast<double>(i) / rate));
      timer.expires_at(due);
      co_await timer.async_wait(asio::use_awaitable);
      http::request<http::string_body> req{http::verb::post, "/v1/chat", 11};
      req.set(http::field::host, "127.0.0.1");
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
      auto [ew, nw] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
      http::response<http::string_body> res;
      auto [er, nr] =
          co_await http::async_read(stream, buf, res, asio::as_tuple(asio::use_awaitable));
      if (ew || er) {
        ++errors;
        co_return;
      }
      if (res.result_int() != 200) ++non200;
      lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - due).count());
    }
  };
  for (int c = 0; c < conns; ++c) asio::co_spawn(ioc, conn(c), asio::detached);
  ioc.run();
  if (lat_us.empty()) {
    std::fprintf(stderr, "no responses (errors %d)\n", errors);
    return 1;
  }
  std::sort(lat_us.begin(), lat_us.end());
  auto pct = [&](double p) {
    return lat_us[std::min(lat_us.size() - 1,
                           static_cast<std::size_t>(p * static_cast<double>(lat_us.size())))];
  };
  std::printf(
      "  sent %zu at %.0f/s over %d connections: p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f "
      "us, max %.0f us;"
      " non-200 %d, errors %d\n",
      lat_us.size(), rate, conns, pct(0.5), pct(0.9), pct(0.99), pct(0.999), lat_us.back(), non200,
      errors);
  return 0;
}
