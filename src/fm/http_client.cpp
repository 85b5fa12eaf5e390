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
#include <mutex>
#include <unordered_map>

#include "core/real_clock.hpp"

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
  if (u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos)
    return core::fail("invalid_url", "a URL port must be a number");
  return u;
}

std::string Url::host_header() const {
  const bool default_port = (tls && port == "443") || (!tls && port == "80");
  return default_port ? host : host + ":" + port;
}

namespace {

// Pooled connections age in real time: they are real sockets, never simulated.
const core::Clock& wall_clock() {
  static const core::RealClock clock;
  return clock;
}

// When the next operation must be done by, and which budget that is ("timeout": the
// deadline; "first_byte_timeout", "stream_stalled": an HttpTimeouts budget).
struct Expiry {
  core::TimePoint at = core::TimePoint::max();
  std::string_view code = "timeout";
};

core::TimePoint saturating_add(core::TimePoint t, core::Duration d) {
  return d >= core::TimePoint::max() - t ? core::TimePoint::max() : t + d;
}

// The expiries of one request, from its deadline, its budgets and when it started.
struct Limits {
  core::TimePoint deadline = core::TimePoint::max();
  core::TimePoint first = core::TimePoint::max();  // start + first_byte
  core::Duration idle{};
  Limits(core::Deadline d, const HttpTimeouts& t, core::TimePoint start)
      : deadline(d.at()), idle(t.idle) {
    if (t.first_byte > core::Duration::zero()) first = saturating_add(start, t.first_byte);
  }
  // Until the response (or a streamed body) has begun. The deadline wins a tie.
  Expiry before_first_byte() const {
    return first < deadline ? Expiry{first, "first_byte_timeout"} : Expiry{deadline};
  }
  // A read of a streamed body that has begun.
  Expiry next_read(core::TimePoint now) const {
    if (idle > core::Duration::zero()) {
      const auto at = saturating_add(now, idle);
      if (at < deadline) return {at, "stream_stalled"};
    }
    return Expiry{deadline};
  }
};

void arm(beast::tcp_stream& s, const Expiry& e) {
  if (e.at == core::TimePoint::max()) {
    s.expires_never();
  } else {
    s.expires_at(e.at);
  }
}

bool is_cancelled(const asio::cancellation_state& cs) {
  return cs.cancelled() != asio::cancellation_type::none;
}

HttpError cancelled_error() { return {"cancelled", "the request was cancelled"}; }

HttpError to_error(const boost::system::error_code& ec, std::string_view during,
                   const Expiry& expiry) {
  if (ec == beast::error::timeout) {
    if (expiry.code == "first_byte_timeout")
      return {"first_byte_timeout",
              "no response within the first-byte budget (" + std::string(during) + ")"};
    if (expiry.code == "stream_stalled")
      return {"stream_stalled",
              "the response went silent past the idle budget (" + std::string(during) + ")"};
    return {"timeout", "no answer before the deadline (" + std::string(during) + ")"};
  }
  if (ec == asio::error::operation_aborted)
    return {"cancelled", "cancelled during " + std::string(during)};
  if (ec == asio::error::connection_reset || ec == http::error::end_of_stream ||
      ec == asio::error::eof || ec == http::error::partial_message ||
      ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated) {
    return {"connection_reset", "the connection closed during " + std::string(during)};
  }
  return {"io_error", std::string(during) + ": " + ec.message()};
}

struct Conn {
  std::unique_ptr<beast::tcp_stream> tcp;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buf;
  core::TimePoint idle_since{};
  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *tcp; }
};

struct Outcome {
  HttpResult result = core::fail(HttpError{"io_error", "no exchange"});
  bool got_header = false;  // a response began: never resend
  bool reusable = false;    // the whole response was read and the server keeps the connection
};

// One request and its response on a connection. Every operation's expiry is set just before
// it (Limits); the coroutine's cancellation state is checked before each, and after each read
// before its bytes go to the sink.
template <class Stream>
asio::awaitable<Outcome> exchange(Stream& stream, beast::tcp_stream& lowest,
                                  beast::flat_buffer& buf, http::request<http::string_body>& req,
                                  const BodySink& sink, const Limits& limits) {
  const auto cs = co_await asio::this_coro::cancellation_state;
  if (is_cancelled(cs)) co_return Outcome{core::fail(cancelled_error())};
  Expiry expiry = limits.before_first_byte();
  arm(lowest, expiry);
  auto [wec, wn] = co_await http::async_write(stream, req, kTuple);
  if (is_cancelled(cs)) co_return Outcome{core::fail(cancelled_error())};
  if (wec) co_return Outcome{core::fail(to_error(wec, "the request", expiry))};
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto [hec, hn] = co_await http::async_read_header(stream, buf, parser, kTuple);
  if (is_cancelled(cs)) co_return Outcome{core::fail(cancelled_error())};
  if (hec) co_return Outcome{core::fail(to_error(hec, "the response header", expiry))};
  HttpResponse res;
  res.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    res.headers[name] = std::string(f.value());
  }
  // Only a successful response is streamed to the sink; an error body is collected whole.
  const BodySink* to = sink && res.status / 100 == 2 ? &sink : nullptr;
  // The budgets cover a streamed body; any other body has the deadline alone.
  const Expiry whole{limits.deadline};
  std::size_t consumed = 0;
  bool stop = false;
  while (!parser.is_done() && !stop) {
    // A cancellation emitted while the sink ran (no operation pending) is seen here.
    if (is_cancelled(cs)) co_return Outcome{core::fail(cancelled_error()), true};
    if (to == nullptr) {
      expiry = whole;
    } else if (consumed > 0) {
      expiry = limits.next_read(wall_clock().now());
    }  // else: the first body bytes are still due within the first-byte budget
    arm(lowest, expiry);
    auto [rec, rn] = co_await http::async_read_some(stream, buf, parser, kTuple);
    if (is_cancelled(cs)) co_return Outcome{core::fail(cancelled_error()), true};
    if (rec) co_return Outcome{core::fail(to_error(rec, "the response body", expiry)), true};
    if (to != nullptr) {
      std::string& body = parser.get().body();
      if (body.size() > consumed) stop = !(*to)(std::string_view(body).substr(consumed));
      consumed = body.size();
    }
  }
  if (to != nullptr && !stop && parser.get().body().size() > consumed)
    (*to)(std::string_view(parser.get().body()).substr(consumed));
  const bool reusable = parser.is_done() && !stop && parser.keep_alive();
  if (to == nullptr) res.body = std::move(parser.get().body());
  co_return Outcome{std::move(res), true, reusable};
}

// The idle connections of one io_context, owned by it as an Asio service: the context closes
// them in its shutdown, before its socket services go, however long a client lives.
class PoolService final : public asio::execution_context::service {
 public:
  using key_type = PoolService;
  static inline asio::execution_context::id id;
  explicit PoolService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}
  void shutdown() override {
    std::lock_guard lock(mu);
    idle.clear();
  }
  std::mutex mu;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Conn>>> idle;
};

}  // namespace

struct HttpClient::Impl {
  explicit Impl(HttpClientOptions o) : options(o), ctx(ssl::context::tls_client) {
    ctx.set_default_verify_paths();
    if (!o.ca_file.empty()) {
      boost::system::error_code ec;
      ctx.load_verify_file(o.ca_file, ec);
      ca_error = ec ? "cannot load CA file " + o.ca_file + ": " + ec.message() : "";
    }
    ctx.set_verify_mode(o.verify_tls ? ssl::verify_peer : ssl::verify_none);
  }
  std::string ca_error;  // a request fails with it rather than run without the CA
  HttpClientOptions options;
  ssl::context ctx;
  std::atomic<std::uint64_t> opened{0}, reused{0}, stale{0};

  // Clients that verify TLS never share a connection with one that does not.
  std::string key_of(const Url& u) const {
    return std::string(u.tls ? (options.verify_tls ? "s:" : "s-noverify:") : "p:") + u.host + ":" +
           u.port;
  }

  std::unique_ptr<Conn> take(PoolService& pool, const std::string& key) {
    const auto now = wall_clock().now();
    std::vector<std::unique_ptr<Conn>> expired;  // closed outside the lock
    std::unique_ptr<Conn> out;
    {
      std::lock_guard lock(pool.mu);
      auto it = pool.idle.find(key);
      if (it == pool.idle.end()) return nullptr;
      auto& v = it->second;
      while (!v.empty() && !out) {
        auto c = std::move(v.back());
        v.pop_back();
        if (now - c->idle_since < options.idle_timeout) {
          out = std::move(c);
        } else {
          expired.push_back(std::move(c));
        }
      }
    }
    return out;
  }

  void give_back(PoolService& pool, const std::string& key, std::unique_ptr<Conn> c) {
    c->lowest().expires_never();
    c->idle_since = wall_clock().now();
    std::lock_guard lock(pool.mu);
    auto& v = pool.idle[key];
    if (v.size() < options.max_idle_per_host) v.push_back(std::move(c));
  }

  asio::awaitable<core::Result<std::unique_ptr<Conn>, HttpError>> open(const Url& base,
                                                                       const Limits& limits) {
    const auto cs = co_await asio::this_coro::cancellation_state;
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(ex);
    auto [rec, results] = co_await resolver.async_resolve(base.host, base.port, kTuple);
    if (is_cancelled(cs)) co_return core::fail(cancelled_error());
    if (rec)
      co_return core::fail(
          HttpError{"connect_failed", "cannot resolve " + base.host + ": " + rec.message()});
    auto c = std::make_unique<Conn>();
    if (base.tls) {
      c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, ctx);
      if (!SSL_set_tlsext_host_name(c->tls->native_handle(), base.host.c_str()))
        co_return core::fail(HttpError{"tls_failed", "cannot set SNI"});
      if (options.verify_tls) c->tls->set_verify_callback(ssl::host_name_verification(base.host));
    } else {
      c->tcp = std::make_unique<beast::tcp_stream>(ex);
    }
    const Expiry expiry = limits.before_first_byte();
    arm(c->lowest(), expiry);
    auto [cec, ep] = co_await c->lowest().async_connect(results, kTuple);
    if (is_cancelled(cs)) co_return core::fail(cancelled_error());
    if (cec) {
      co_return core::fail(
          cec == beast::error::timeout
              ? to_error(cec, "connecting to " + base.host, expiry)
              : HttpError{"connect_failed", "cannot connect to " + base.host + ":" + base.port});
    }
    if (c->tls) {
      auto [hec] = co_await c->tls->async_handshake(ssl::stream_base::client, kTuple);
      if (is_cancelled(cs)) co_return core::fail(cancelled_error());
      if (hec) {
        co_return core::fail(hec == beast::error::timeout
                                 ? to_error(hec, "the TLS handshake with " + base.host, expiry)
                                 : HttpError{"tls_failed", "TLS handshake with " + base.host +
                                                               ": " + hec.message()});
      }
    }
    opened.fetch_add(1, std::memory_order_relaxed);
    co_return c;
  }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>(options)) {}
HttpClient::~HttpClient() = default;

HttpClient::Stats HttpClient::stats() const {
  return {impl_->opened.load(), impl_->reused.load(), impl_->stale.load()};
}

asio::awaitable<HttpResult> HttpClient::request(const Url& base, std::string method,
                                                std::string path, HttpHeaders headers,
                                                std::string body, core::Deadline deadline,
                                                BodySink body_sink, HttpTimeouts timeouts) {
  // The budgets run from the call (pooled connections age in the same real time).
  const Limits limits(deadline, timeouts, wall_clock().now());
  const auto cs = co_await asio::this_coro::cancellation_state;
  http::request<http::string_body> req{http::string_to_verb(method), base.path + path, 11};
  req.set(http::field::host, base.host_header());
  req.set(http::field::user_agent, "mangaassist");
  for (auto& [k, v] : headers) req.set(k, v);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();

  if (base.tls && !impl_->ca_error.empty())
    co_return core::fail(HttpError{"tls_failed", impl_->ca_error});
  const std::string key = impl_->key_of(base);
  auto ex = co_await asio::this_coro::executor;
  PoolService& pool = asio::use_service<PoolService>(asio::query(ex, asio::execution::context));
  // A pooled connection first; if the server closed it while idle (nothing of a response
  // came back), the request goes once more on a fresh connection.
  for (int round = 0; round < 2; ++round) {
    // Checked before each awaited step: once cancelled, nothing more is awaited (and so
    // nothing throws, whatever the coroutine's throw_if_cancelled).
    if (is_cancelled(cs)) co_return core::fail(cancelled_error());
    std::unique_ptr<Conn> conn = round == 0 ? impl_->take(pool, key) : nullptr;
    const bool pooled = conn != nullptr;
    if (!conn) {
      auto opened = co_await impl_->open(base, limits);
      if (!opened.ok()) co_return core::fail(std::move(opened).error());
      conn = std::move(opened).value();
    } else {
      impl_->reused.fetch_add(1, std::memory_order_relaxed);
    }
    conn->buf.clear();
    if (is_cancelled(cs)) co_return core::fail(cancelled_error());  // conn closes with it
    Outcome out;
    if (conn->tls) {
      out = co_await exchange(*conn->tls, conn->lowest(), conn->buf, req, body_sink, limits);
    } else {
      out = co_await exchange(*conn->tcp, conn->lowest(), conn->buf, req, body_sink, limits);
    }
    if (pooled && !out.got_header && !out.result.ok() &&
        out.result.error().code == "connection_reset") {
      impl_->stale.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (out.reusable) {
      impl_->give_back(pool, key, std::move(conn));
    } else if (!conn->tls) {
      boost::system::error_code ignored;
      conn->tcp->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    }
    co_return std::move(out.result);
  }
  co_return core::fail(HttpError{"connection_reset", "the connection closed before an answer"});
}

}  // namespace ma::fm
