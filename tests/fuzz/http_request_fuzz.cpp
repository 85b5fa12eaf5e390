// Fuzz target: an HTTP request as the server reads it off a connection. Input: the raw bytes
// a client sends. They go through Boost.Beast's request_parser<string_body> with the
// server's limits (header 8 KiB, body 16 KiB: ServerConfig::body_limit), then through what
// the server does with a parsed request before routing it (the WebSocket upgrade test, the
// Expect header, the client address from X-Forwarded-For behind trusted proxies, the
// rate-limit key) and, for any request with a body, the chat body validation
// (ma::server::parse_chat, as POST /v1/chat).
//
// NOTE: the server's own session loop (Server::Impl::session) is private; this mirrors it.
// A function that takes a parsed request and returns the response without a socket would
// let the fuzzer reach the routing and the handlers too.

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat_properties.hpp"
#include "gateway/source_key.hpp"
#include "server/client_address.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::size_t kBodyLimit = 16 * 1024;
constexpr std::size_t kHeaderLimit = 8 * 1024;

const ma::server::TrustedProxies& proxies() {
  static const auto* p = [] {
    auto r = ma::server::TrustedProxies::parse({"10.0.0.0/8", "fd00::/8", "127.0.0.1"});
    MA_FUZZ_CHECK(r.ok());
    return new ma::server::TrustedProxies(std::move(r).value());
  }();
  return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  http::request_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  parser.header_limit(kHeaderLimit);
  parser.eager(true);
  beast::error_code ec;
  // As the server's reads do: the bytes so far, for as long as the parser takes some.
  std::size_t used = 0;
  while (!parser.is_done() && used < in.size()) {
    const std::size_t n = parser.put(boost::asio::buffer(in.data() + used, in.size() - used), ec);
    MA_FUZZ_CHECK(n <= in.size() - used);
    used += n;
    if (ec == http::error::need_more) {
      ec = {};
      if (n == 0) break;
      continue;
    }
    if (ec) return 0;  // a 400, 413 or 431 (or a closed connection)
  }
  if (!parser.is_done()) {
    if (!parser.got_some()) return 0;  // closed before a byte (put_eof REQUIRES got_some)
    parser.put_eof(ec);  // the client closed: a body up to EOF may complete the request
    if (ec || !parser.is_done()) return 0;
  }
  const auto& req = parser.get();
  MA_FUZZ_CHECK(req.body().size() <= kBodyLimit);

  // What the session loop looks at before routing.
  const bool upgrade = beast::websocket::is_upgrade(req) && req.target() == "/v1/ws";
  if (auto it = req.find(http::field::expect); it != req.end()) {
    (void)beast::iequals(it->value(), "100-continue");
  }
  (void)req.keep_alive();
  (void)upgrade;
  std::vector<std::string_view> forwarded;
  for (auto [it, end] = req.equal_range("X-Forwarded-For"); it != end; ++it) {
    forwarded.push_back(it->value());
  }
  for (std::string_view peer : {"10.1.2.3", "203.0.113.9", "fd00::5"}) {
    const std::string client = proxies().client_of(peer, forwarded);
    boost::system::error_code aec;
    (void)boost::asio::ip::make_address(client, aec);  // always an address, never the header's text
    MA_FUZZ_CHECK(!aec);
    if (peer == std::string_view("203.0.113.9")) MA_FUZZ_CHECK(client == peer);  // untrusted peer
    (void)ma::gateway::source_key(client);
  }

  if (!req.body().empty()) (void)ma::fuzz::parse_and_check(req.body(), false);
  return 0;
}
