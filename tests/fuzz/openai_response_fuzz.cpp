// Fuzz target: an OpenAI-compatible endpoint's whole answer as the provider reads it
// (OpenAiCompatible::invoke): the HTTP client reading the response (fm/http_client.cpp), the
// event stream (SseParser, which sse_fuzz takes alone), the non-streaming JSON completion,
// error responses (resilience::parse_error) and the retry hint. A loopback server on the
// same io_context answers with the input: in-process, single-threaded, one pooled
// keep-alive connection.
//
// Input: one mode byte, then the body. Mode bit 0x80: the rest is the whole raw HTTP
// response (status line, headers, body; the server closes after it), which fuzzes the
// client's response reading too. Otherwise the body is sent with the status
// kStatuses[mode % size] as text/event-stream with a Content-Length.
//
// NOTE: through the socket a small body arrives in one piece; sse_fuzz splits the stream.
//
// Beyond "no crash": a reply is never empty and is exactly the chunks streamed to the
// client; an error has a code, and an HTTP error keeps its status.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/real_clock.hpp"
#include "fm/openai_compatible.hpp"
#include "fuzz_check.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr int kStatuses[] = {200, 200, 200, 200, 200, 200, 200, 200, 400, 401, 403, 404,
                             408, 413, 422, 429, 500, 502, 503, 504, 529, 200, 200, 200};

struct Loopback {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::optional<tcp::socket> conn;  // the server's end of the client's pooled connection
  boost::beast::flat_buffer buf;
  std::unique_ptr<ma::fm::OpenAiCompatible> provider;
  ma::core::RealClock clock;

  Loopback() {
    ma::fm::OpenAiConfig c;
    c.base_url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/v1";
    auto p = ma::fm::OpenAiCompatible::create(c);
    MA_FUZZ_CHECK(p.ok());
    provider = std::move(p).value();
  }

  bool stopping = false;

  // Answers every request of one run with `response`, on the pooled connection or a new one
  // (the client sends once more on a new connection when a pooled one closed before any
  // answer), until stop().
  asio::awaitable<void> serve(std::string response, bool close_after) {
    while (!stopping) {
      if (!conn) {
        auto [aec, s] = co_await acceptor.async_accept(kTuple);
        if (aec) co_return;  // stopped
        conn.emplace(std::move(s));
        buf.clear();
      }
      http::request<http::string_body> req;
      auto [rec, rn] = co_await http::async_read(*conn, buf, req, kTuple);
      if (rec && stopping) co_return;  // idle: kept for the client's pooled connection
      if (rec) {                       // the client let this connection go
        conn.reset();
        continue;
      }
      MA_FUZZ_CHECK(req.target() == "/v1/chat/completions");
      auto [wec, wn] = co_await asio::async_write(*conn, asio::buffer(response), kTuple);
      if (wec || close_after) conn.reset();
    }
  }
  void stop() {
    stopping = true;
    acceptor.cancel();
    if (conn) conn->cancel();
  }
};

// A named coroutine, not a lambda: g++ 12 emits a coroutine lambda inside an extern "C"
// function twice under one symbol.
asio::awaitable<void> ask(Loopback& lb, const ma::fm::ModelRequest& req,
                          std::optional<ma::fm::ModelResult>& result, std::string& streamed) {
  result = co_await lb.provider->invoke(req, [&](std::string_view c) { streamed += c; });
  lb.stop();
}

Loopback& loopback() {
  static Loopback* l = new Loopback();
  return *l;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)loopback();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Loopback& lb = loopback();
  const std::uint8_t mode = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool raw = (mode & 0x80) != 0;
  const int status = kStatuses[mode % std::size(kStatuses)];
  std::string response;
  if (raw) {
    response.assign(body);
  } else {
    response =
        "HTTP/1.1 " + std::to_string(status) +
        " X\r\nContent-Type: text/event-stream\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n";
    response += body;
  }

  ma::fm::ModelRequest req;
  req.model_id = "sonnet";
  req.turns.push_back({"user", "ONE PIECEの105巻はいくら？"});
  req.deadline = ma::core::Deadline::after(lb.clock, std::chrono::seconds(10));
  std::string streamed;
  std::optional<ma::fm::ModelResult> result;
  lb.stopping = false;
  asio::co_spawn(lb.ioc, lb.serve(std::move(response), raw), asio::detached);
  asio::co_spawn(lb.ioc, ask(lb, req, result, streamed), asio::detached);
  lb.ioc.restart();
  lb.ioc.run();

  MA_FUZZ_CHECK(result.has_value());
  static const bool verbose = std::getenv("MA_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    if (result->ok()) {
      std::fprintf(stderr, "openai_response_fuzz: reply \"%s\"\n", (*result)->text.c_str());
    } else {
      std::fprintf(stderr, "openai_response_fuzz: error %s (%d): %s\n",
                   result->error().code.c_str(), result->error().http_status,
                   result->error().message.c_str());
    }
  }
  if (result->ok()) {
    MA_FUZZ_CHECK(!(*result)->text.empty());
    MA_FUZZ_CHECK((*result)->text == streamed);
  } else {
    const ma::fm::ModelError& e = result->error();
    MA_FUZZ_CHECK(!e.code.empty());
    if (!raw && status != 200) MA_FUZZ_CHECK(e.http_status == status);
  }
  return 0;
}
