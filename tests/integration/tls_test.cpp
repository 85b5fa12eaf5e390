// TLS to a model endpoint: verification is on by default (a certificate nobody vouches for,
// or one for another host, fails the request as tls_failed), and a private CA can be trusted
// explicitly. A loopback TLS server with certificates made by `openssl` for this run.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/real_clock.hpp"
#include "fm/http_client.hpp"

namespace ma::fm {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using namespace std::chrono_literals;

// A self-signed certificate for `cn` with the given subject alternative names.
std::string make_cert(const std::string& dir, const std::string& name, const std::string& cn,
                      const std::string& san) {
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=" + cn +
                          " -addext subjectAltName=" + san + " -keyout " + dir + "/" + name +
                          ".key -out " + dir + "/" + name + ".pem 2>/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return dir + "/" + name;
}

// Answers every request with 200 "ok" over TLS with the given certificate.
class TlsServer {
 public:
  explicit TlsServer(const std::string& cert) : ctx_(ssl::context::tls_server) {
    ctx_.use_certificate_chain_file(cert + ".pem");
    ctx_.use_private_key_file(cert + ".key", ssl::context::pem);
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TlsServer() {
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(io_, serve(std::move(sock)), asio::detached);
    }
  }
  asio::awaitable<void> serve(asio::ip::tcp::socket sock) {
    beast::ssl_stream<beast::tcp_stream> s(std::move(sock), ctx_);
    auto [hec] =
        co_await s.async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (hec) co_return;  // the client refused our certificate
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    auto [rec, rn] = co_await http::async_read(s, buf, req, asio::as_tuple(asio::use_awaitable));
    if (rec) co_return;
    http::response<http::string_body> res{http::status::ok, 11};
    res.body() = "ok";
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(s, res, asio::as_tuple(asio::use_awaitable));
  }
  asio::io_context io_;
  ssl::context ctx_;
  asio::ip::tcp::acceptor acceptor_{io_};
  std::thread thread_;
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("ma_tls_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    good_ = make_cert(dir_.string(), "good", "localhost", "DNS:localhost,IP:127.0.0.1");
    other_ = make_cert(dir_.string(), "other", "api.example", "DNS:api.example");
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  HttpResult get(HttpClientOptions options, const std::string& cert, const std::string& host) {
    TlsServer server(cert);
    HttpClient client(std::move(options));
    auto url = Url::parse("https://" + host + ":" + std::to_string(server.port()));
    EXPECT_TRUE(url.ok());
    std::optional<HttpResult> out;
    asio::io_context io;
    auto task = [&]() -> asio::awaitable<void> {
      out = co_await client.request(*url, "GET", "/", {}, "", core::Deadline::after(clock_, 3s));
    };
    asio::co_spawn(io, task(), asio::detached);
    io.run();
    return std::move(out).value();
  }

  static inline std::filesystem::path dir_;
  static inline std::string good_, other_;
  core::RealClock clock_;
};

TEST_F(TlsTest, AnUntrustedCertificateFailsByDefault) {
  auto r = get({}, good_, "localhost");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "tls_failed") << r.error().message;
}

TEST_F(TlsTest, APrivateCaCanBeTrusted) {
  auto r = get(with_ca_file(good_ + ".pem"), good_, "localhost");
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
}

TEST_F(TlsTest, ACertificateForAnotherHostFailsEvenWhenItsCaIsTrusted) {
  auto r = get(with_ca_file(other_ + ".pem"), other_, "localhost");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "tls_failed");
}

TEST_F(TlsTest, AMissingCaFileIsAnErrorNotASilentFallback) {
  auto r = get(with_ca_file(dir_.string() + "/missing.pem"), good_, "localhost");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot load CA file"), std::string::npos);
}

}  // namespace
}  // namespace ma::fm
