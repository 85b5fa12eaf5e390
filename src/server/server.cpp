#include "server/server.hpp"

#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>

#include "assist/degradation.hpp"
#include "core/json_util.hpp"
#include "core/random.hpp"
#include "core/text.hpp"
#include "core/thread_slot.hpp"
#include "gateway/chat_flow.hpp"
#include "gateway/source_key.hpp"
#include "resilience/token_bucket.hpp"
#include "server/chat_request.hpp"
#include "server/client_address.hpp"

namespace ma::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using gateway::ChatInput;
using gateway::ChatOutcome;
using gateway::source_key;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

Response json_response(http::status status, std::string body, unsigned version = 11) {
  Response res{status, version};
  res.set(http::field::server, "mangaassist");
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string error_body(std::string_view code, std::string_view message) {
  json::object o;
  o["error"] = code;
  o["message"] = message;
  return json::serialize(o);
}

Response error_response(http::status status, std::string_view code, std::string_view message) {
  return json_response(status, error_body(code, message));
}

// "Bearer <token>" (the scheme in any case, RFC 9110) -> token; empty when absent or
// malformed.
std::string_view bearer(const Request& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string_view v = it->value();
  if (v.size() < 7 || !beast::iequals(v.substr(0, 7), "bearer ")) return {};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return v;
}

// The value of cookie `name`, or empty.
std::string_view cookie(const Request& req, std::string_view name) {
  for (auto [it, end] = req.equal_range(http::field::cookie); it != end; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      const auto semi = v.find(';');
      std::string_view pair = v.substr(0, semi);
      v = semi == std::string_view::npos ? std::string_view() : v.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
          pair[name.size()] == '=')
        return pair.substr(name.size() + 1);
    }
  }
  return {};
}

// The query parameter `name` of a target ("/v1/ws?token=...&x=1"), undecoded: the values the
// server reads there (tokens) use no characters that need escaping.
std::string_view query_param(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
  }
  return {};
}

constexpr std::string_view kSessionCookie = "ma_session";

std::string session_cookie(std::string_view session) {
  // HttpOnly: the page never reads it; SameSite=Lax: not sent by other sites' requests.
  return core::str_cat(kSessionCookie, "=", session,
                       "; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax");
}

std::string new_trace_id(core::WallTime now) {
  thread_local core::Random rng(std::random_device{}() ^
                                (std::uint64_t{std::random_device{}()} << 32));
  const auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  char buf[40];
  std::snprintf(buf, sizeof buf, "1-%08llx-%08llx%016llx", static_cast<unsigned long long>(secs),
                static_cast<unsigned long long>(rng.next() & 0xffffffffULL),
                static_cast<unsigned long long>(rng.next()));
  return buf;
}

json::object status_json(const assist::ServiceStatus& st) {
  json::object o;
  o["state"] = st.state;
  if (st.eta) {
    o["eta_s"] = static_cast<std::int64_t>(std::ceil(core::to_seconds(*st.eta)));
  } else {
    o["eta_s"] = nullptr;
  }
  json::object models;
  for (const auto& m : st.models) models[m.name] = resilience::to_string(m.breaker);
  o["models"] = std::move(models);
  return o;
}

// Written directly (every reply renders one, and a JSON DOM built to be serialised at once
// costs several allocations a field); the same bytes boost::json::serialize gives the
// same fields, in this order.
std::string reply_json(const assist::Reply& r, const assist::ServiceStatus& st,
                       std::string_view type, std::string_view request_id,
                       std::string_view session_id = {}) {
  std::string o;
  o.reserve(384 + r.text.size() + 96 * r.actions.size());
  auto key = [&](std::string_view k) { core::append_json_key(o, k); };
  auto text = [&](std::string_view k, std::string_view v) {
    key(k);
    core::append_json_string(o, v);
  };
  if (!type.empty()) text("type", type);
  if (!request_id.empty()) text("request_id", request_id);
  if (!session_id.empty()) text("session_id", session_id);
  text("reply", r.text);
  text("tier", assist::to_string(r.tier));
  text("intent", assist::to_string(r.intent));
  text("language", fm::to_string(r.lang));
  key("degraded");
  o += r.degraded ? "true" : "false";
  key("actions");
  o += '[';
  for (std::size_t i = 0; i < r.actions.size(); ++i) {
    o += i == 0 ? "{\"label\":" : ",{\"label\":";
    core::append_json_string(o, r.actions[i].label);
    o += ",\"url\":";
    core::append_json_string(o, r.actions[i].url);
    o += '}';
  }
  o += ']';
  key("status");
  o += "{\"state\":";
  core::append_json_string(o, st.state);
  o += ",\"eta_s\":";
  o += st.eta ? std::to_string(static_cast<std::int64_t>(std::ceil(core::to_seconds(*st.eta))))
              : std::string("null");
  o += ",\"models\":{";
  for (std::size_t i = 0; i < st.models.size(); ++i) {
    if (i > 0) o += ',';
    core::append_json_string(o, st.models[i].name);
    o += ':';
    core::append_json_string(o, resilience::to_string(st.models[i].breaker));
  }
  o += "}}";
  if (r.degraded) {
    key("retry_after_s");
    o += std::to_string(r.retry_after_s);
  }
  if (r.disclaimer) {
    key("disclaimer");
    o += "true";
  }
  text("trace_id", r.trace_id);
  o += '}';
  return o;
}

int ceil_seconds(core::Duration d) {
  return std::max(1, static_cast<int>(std::ceil(core::to_seconds(d))));
}

// The 429 a user over their own limit receives: the truth, and when they can send again.
std::string rate_limited_body(const admission::AdmissionResult& r, bool japanese) {
  json::object o;
  o["error"] = "rate_limited";
  o["scope"] = r.scope;
  const int s = ceil_seconds(r.retry_after);
  if (r.scope == "user") {
    o["message"] =
        japanese
            ? "短い間に多くのメッセージが送信されました。" + std::to_string(s) +
                  "秒後に次のメッセージを送信できます。"
            : "You have sent several messages in a short time. You can send your next one in " +
                  std::to_string(s) + (s == 1 ? " second." : " seconds.");
  } else {
    o["message"] =
        japanese ? "お使いのネットワークから多くのメッセージが届いています。" + std::to_string(s) +
                       "秒後に送信できます。"
                 : "Many messages are arriving from your network address. You can send again in " +
                       std::to_string(s) + (s == 1 ? " second." : " seconds.");
  }
  o["retry_after_s"] = s;
  return json::serialize(o);
}

// The reply to a message that waited in the queue past its maximum wait.
}  // namespace

namespace {

// server.threads, 0 meaning one per core.
ServerConfig with_threads(ServerConfig c) {
  if (c.threads <= 0)
    c.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return c;
}

// A keep-alive HTTP connection waiting for its next request, in its worker's list of idle
// connections (oldest first), so that a full server sheds it first. The node lives in the
// connection's coroutine frame; the list, the node and the socket belong to the worker's
// thread alone, so shedding is a plain close there, without locks or shared pointers.
struct IdleNode {
  IdleNode* prev = nullptr;
  IdleNode* next = nullptr;
  beast::tcp_stream* stream = nullptr;
  bool linked = false;
  bool shed = false;  // closed by the worker to make room
};

class IdleList final {
 public:
  void push(IdleNode& n) {
    n.prev = tail_;
    n.next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = &n;
    tail_ = &n;
    n.linked = true;
    size_.fetch_add(1, std::memory_order_relaxed);
  }
  void remove(IdleNode& n) {
    if (!n.linked) return;
    (n.prev != nullptr ? n.prev->next : head_) = n.next;
    (n.next != nullptr ? n.next->prev : tail_) = n.prev;
    n.linked = false;
    size_.fetch_sub(1, std::memory_order_relaxed);
  }
  IdleNode* oldest() const { return head_; }
  // Read by the accepting thread to choose where to shed; exact on the worker's thread.
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  IdleNode* head_ = nullptr;
  IdleNode* tail_ = nullptr;
  std::atomic<std::size_t> size_{0};
};

// Unlinks the node whatever way the connection's coroutine ends.
struct IdleScope {
  IdleList& list;
  IdleNode& node;
  ~IdleScope() { list.remove(node); }
};

}  // namespace

// One worker (Envoy's model): an io_context run by one thread, owning the connections it was
// given from accept to close. Requests never cross workers; what they share (admission,
// pipeline, metrics) is sharded, per-thread or atomic.
struct Worker {
  // Before the io_context: destroying it destroys pending connections, which unlink
  // themselves from this list.
  IdleList idle;            // this worker's thread only (size() aside)
  asio::io_context ioc{1};  // concurrency hint: one thread runs it
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
};

struct Server::Impl {
  Impl(App& a, ServerConfig c, Server& o)
      : app(a),
        cfg(with_threads(std::move(c))),
        owner(o),
        issuer({.rate = cfg.session_issue_rate, .burst = cfg.session_issue_burst}, 100'000),
        workers(make_workers(cfg.threads)),
        ioc(workers.front()->ioc),
        acceptor(ioc),
        admin_acceptor(ioc),
        signals(ioc) {}

  static std::vector<std::unique_ptr<Worker>> make_workers(int n) {
    std::vector<std::unique_ptr<Worker>> w;
    for (int i = 0; i < n; ++i) {
      w.push_back(std::make_unique<Worker>());
      // Asio makes an io_context's reactor (an epoll and an eventfd) and timer service on
      // first use: make them now, not when the first connection arrives, perhaps out of
      // file descriptors (the throw would end the process).
      tcp::socket socket(w.back()->ioc);
      asio::steady_timer timer(w.back()->ioc);
    }
    return w;
  }

  App& app;
  ServerConfig cfg;
  Server& owner;
  std::atomic<bool> draining{false};
  // Open WebSocket connections: how to ask each to close when the drain ends.
  std::mutex ws_mu;
  std::map<std::uint64_t, std::function<void()>> ws_closers;
  std::uint64_t next_ws = 0;
  std::string index_html;
  std::string admin_token;
  SessionIssuer issuer;

  // Connections: at most cfg.max_connections open; HTTP connections waiting for a request
  // are listed oldest first in their worker, so a flood sheds them.
  std::atomic<std::size_t> open_connections{0};

  observe::Counter* bad_requests = nullptr;
  observe::Family<observe::Counter>* connection_events = nullptr;  // {event}
  observe::Family<observe::Counter>* ws_closes = nullptr;          // {reason}

  // Declared last, so destroyed first: a worker's io_context destroys the coroutine frames
  // still pending in it (connections open at shutdown), whose destructors use the members
  // above (the open-connection count, the WebSocket registry); the listeners and the signal
  // set belong to the first worker's io_context and go before it.
  std::vector<std::unique_ptr<Worker>> workers;
  // The first worker's: it also runs the listeners, the signal watch, the drain and the
  // background jobs (sale watcher, validation, log flusher, OTLP export).
  asio::io_context& ioc;
  std::atomic<std::size_t> next_worker{0};
  tcp::acceptor acceptor;
  tcp::acceptor admin_acceptor;  // server.admin_port: /metrics, /status, /admin
  asio::signal_set signals;

  struct InFlight {
    explicit InFlight(core::SlotCounter& c) : c_(c) { c_.add(1); }
    ~InFlight() { c_.add(-1); }
    core::SlotCounter& c_;
  };
  // One open connection, counted for its whole life.
  struct Open {
    explicit Open(std::atomic<std::size_t>& c) : c_(c) {}
    ~Open() { c_.fetch_sub(1); }
    std::atomic<std::size_t>& c_;
  };

  asio::awaitable<void> accept_loop(tcp::acceptor& from, bool admin_listener);
  // Makes room for one more connection on `to`: at the cap, the oldest idle connection of
  // `to` (else of another worker that has one) is shed on its worker's thread. False: at the
  // cap with nothing idle (the new connection is refused).
  // NOTE: the shed runs on the idle connection's worker a moment later; if that connection
  // got a request meanwhile, nothing is shed and the server is one over its cap until a
  // connection closes. The cap stays far below the descriptor limit (config.hpp).
  bool make_room(Worker& to);
  static void shed_oldest(Worker& w, Impl& self);
  asio::awaitable<void> session(tcp::socket socket, Worker& worker, bool admin_listener);
  asio::awaitable<void> refuse_body(beast::tcp_stream& stream);
  asio::awaitable<void> ws_session(beast::tcp_stream stream, Request req, std::string remote);
  // The client's address: `peer`, or what trusted proxies say in X-Forwarded-For.
  std::string client_of(const Request& req, const std::string& peer) const;
  asio::awaitable<Response> handle(Request& req, const std::string& remote, bool admin_listener);
  asio::awaitable<Response> chat(Request& req, const std::string& remote);
  // Admission, then the pipeline, then the observer: the path every chat message takes.
  using Answer = ChatOutcome;
  asio::awaitable<Answer> answer(ParsedChat p, std::optional<catalog::User> user,
                                 std::string session, std::string remote,
                                 admission::QueuedSink on_queued, assist::TierChunkSink on_chunk);
  Response limits(Request& req);
  Response admin(Request& req, std::string_view target);
  // Not the admin token: the error to answer with.
  std::optional<Response> admin_refusal(const Request& req) const;
  Response status();
  Response metrics();
  // The signed-in user a bearer token names; an error for a token that is present but not
  // valid (bad signature, expired, unknown user).
  core::Result<std::optional<catalog::User>> user_of(std::string_view token);
  // The anonymous session: the cookie's or the body's session id when the server signed it;
  // else a new one when this source may have one (`issued` set); else empty.
  std::string session_of(const Request* req, std::string_view body_session,
                         const std::string& remote, bool& issued);
  // A WebSocket handshake from a page of another site is refused (403).
  bool origin_allowed(const Request& req) const;
  void start_drain();
  // Every worker's io_context returns from run() (what is still in flight is abandoned).
  void stop_workers() {
    for (auto& w : workers) {
      w->work.reset();
      w->ioc.stop();
    }
  }
};

Server::Server(App& app, ServerConfig config)
    : impl_(std::make_unique<Impl>(app, std::move(config), *this)) {
  impl_->admin_token = impl_->cfg.admin_token;  // MANGAASSIST_ADMIN_TOKEN applied already
  impl_->bad_requests =
      &app.metrics()
           .counter("mangaassist_bad_requests_total", "Requests refused as malformed (4xx).")
           .get();
  impl_->connection_events = &app.metrics().counter(
      "mangaassist_connection_events_total",
      "Connections shed (oldest idle, at server.max_connections), refused (at the cap with "
      "none idle) and accept errors (out of file descriptors), by event.",
      {"event"});
  impl_->ws_closes = &app.metrics().counter(
      "mangaassist_ws_closed_total",
      "WebSocket connections the server closed, by reason (slow_reader: replies not read "
      "within ws_send_timeout; too_big; idle; origin: a handshake refused).",
      {"reason"});
  auto& open_gauge = app.metrics().gauge("mangaassist_connections_open",
                                         "Open client connections (HTTP and WebSocket).");
  app.metrics().add_collector([impl = impl_.get(), &open_gauge] {
    open_gauge.get().set(static_cast<double>(impl->open_connections.load()));
  });
  if (impl_->cfg.max_connections == 0) {
    // Below the descriptor limit, with room for SQLite, Redis, logs and model connections.
    rlimit lim{};
    std::size_t fds = 1024;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) fds = lim.rlim_cur;
    impl_->cfg.max_connections = fds > 128 ? fds - fds / 8 - 64 : std::max<std::size_t>(8, fds / 2);
  }
  if (auto html = core::read_file(impl_->cfg.web_dir + "/index.html"); html.ok()) {
    impl_->index_html = std::move(html).value();
  }
}

Server::~Server() {
  impl_->stop_workers();
  join();
}

namespace {
// Opens, binds and listens; returns the bound port (useful with port 0).
core::Result<std::uint16_t> bind_listener(tcp::acceptor& a, const std::string& host,
                                          std::uint16_t port) {
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return core::fail("invalid_config", "bad host " + host);
  const tcp::endpoint ep(addr, port);
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return core::fail("listen_failed", "cannot listen on " + host + ":" + std::to_string(port) +
                                           ": " + ec.message());
  }
  return a.local_endpoint().port();
}
}  // namespace

core::Result<std::uint16_t> Server::listen() {
  auto port = bind_listener(impl_->acceptor, impl_->cfg.host, impl_->cfg.port);
  if (!port.ok()) return port;
  port_ = *port;
  auto& a = impl_->acceptor;
  if (impl_->cfg.admin_port) {
    auto& b = impl_->admin_acceptor;
    auto admin = bind_listener(b, impl_->cfg.admin_host, *impl_->cfg.admin_port);
    if (!admin.ok()) return admin;
    admin_port_ = *admin;
    asio::co_spawn(impl_->ioc, impl_->accept_loop(b, true), asio::detached);
  }
  asio::co_spawn(impl_->ioc, impl_->accept_loop(a, false), asio::detached);
  impl_->app.gateway().start(impl_->ioc.get_executor());
  asio::co_spawn(impl_->ioc, impl_->app.run_flusher(), asio::detached);
  if (auto* otlp = impl_->app.otlp()) asio::co_spawn(impl_->ioc, otlp->run(), asio::detached);
  return port_;
}

void Server::run() {
  impl_->signals.add(SIGINT);
  impl_->signals.add(SIGTERM);
  impl_->signals.async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) shutdown();
  });
  std::vector<std::thread> extra;
  for (std::size_t i = 1; i < impl_->workers.size(); ++i) {
    extra.emplace_back([w = impl_->workers[i].get()] { w->ioc.run(); });
  }
  impl_->workers.front()->ioc.run();
  for (auto& t : extra) t.join();
}

void Server::start() {
  for (auto& w : impl_->workers) threads_.emplace_back([w = w.get()] { w->ioc.run(); });
}

void Server::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Server::shutdown() {
  asio::post(impl_->ioc, [this] { impl_->start_drain(); });
}

void Server::Impl::start_drain() {
  if (draining.exchange(true)) return;
  boost::system::error_code ec;
  acceptor.close(ec);
  admin_acceptor.close(ec);
  signals.cancel(ec);
  // Answer what is in flight, then stop; never wait past the grace period.
  asio::co_spawn(
      ioc,
      [this]() -> asio::awaitable<void> {
        asio::steady_timer t(ioc);
        const core::TimePoint until = app.clock().now() + cfg.shutdown_grace;
        while (owner.in_flight() > 0 && app.clock().now() < until) {
          t.expires_after(std::chrono::milliseconds(20));
          co_await t.async_wait(kTuple);
        }
        // Then every WebSocket client gets a close frame (1001), briefly awaited.
        {
          std::lock_guard lock(ws_mu);
          for (auto& [id, close] : ws_closers) close();
        }
        const core::TimePoint closing_until =
            std::min(until, app.clock().now() + std::chrono::milliseconds(500));
        for (;;) {
          {
            std::lock_guard lock(ws_mu);
            if (ws_closers.empty()) break;
          }
          if (app.clock().now() >= closing_until) break;
          t.expires_after(std::chrono::milliseconds(10));
          co_await t.async_wait(kTuple);
        }
        stop_workers();
      },
      asio::detached);
}

asio::awaitable<void> Server::Impl::accept_loop(tcp::acceptor& from, bool admin_listener) {
  asio::steady_timer backoff(ioc);
  auto pause = std::chrono::milliseconds(0);
  while (from.is_open()) {
    // Round robin: each connection belongs to one worker for its whole life.
    Worker& to = *workers[next_worker.fetch_add(1, std::memory_order_relaxed) % workers.size()];
    auto [ec, socket] = co_await from.async_accept(to.ioc, kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !from.is_open()) break;
      // EMFILE and friends: accept would fail again at once (a busy loop that starves the
      // connections we have). Wait, longer each time, up to a second.
      connection_events->with({"accept_error"}).inc();
      pause = std::clamp(pause * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
      backoff.expires_after(pause);
      co_await backoff.async_wait(kTuple);
      continue;
    }
    pause = std::chrono::milliseconds(0);
    if (!make_room(to)) {
      connection_events->with({"refused"}).inc();
      socket.close(ec);
      continue;
    }
    open_connections.fetch_add(1);
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(to.ioc, session(std::move(socket), to, admin_listener), asio::detached);
  }
}

bool Server::Impl::make_room(Worker& to) {
  if (open_connections.load() < cfg.max_connections) return true;
  Worker* from = to.idle.size() > 0 ? &to : nullptr;
  for (std::size_t i = 0; from == nullptr && i < workers.size(); ++i) {
    if (workers[i]->idle.size() > 0) from = workers[i].get();
  }
  if (from == nullptr) return false;
  asio::post(from->ioc, [from, this] { shed_oldest(*from, *this); });
  return true;
}

void Server::Impl::shed_oldest(Worker& w, Impl& self) {
  IdleNode* n = w.idle.oldest();
  if (n == nullptr) return;  // it got a request meanwhile
  w.idle.remove(*n);
  n->shed = true;
  boost::system::error_code ignored;
  n->stream->socket().close(ignored);  // its read ends with an error; the connection closes
  self.connection_events->with({"shed"}).inc();
}

namespace {
// After an error reply sent before the request was fully read: stop sending, then read and
// drop what the client still sends (briefly), so that closing does not reset the connection
// and destroy the reply in flight.
asio::awaitable<void> lingering_close(beast::tcp_stream& stream) {
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(std::chrono::seconds(2));
  char scratch[4096];
  for (;;) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(scratch), kTuple);
    if (rec) break;
  }
}
}  // namespace

asio::awaitable<void> Server::Impl::refuse_body(beast::tcp_stream& stream) {
  bad_requests->inc();
  auto res = error_response(http::status::payload_too_large, "body_too_large",
                            "the body exceeds " + std::to_string(cfg.body_limit) + " bytes");
  res.keep_alive(false);
  co_await http::async_write(stream, res, kTuple);
  co_await lingering_close(stream);
}

std::string Server::Impl::client_of(const Request& req, const std::string& peer) const {
  if (cfg.trusted_proxies.empty()) return peer;
  std::vector<std::string_view> forwarded;
  for (auto [it, end] = req.equal_range("X-Forwarded-For"); it != end; ++it) {
    forwarded.push_back(it->value());
  }
  return cfg.trusted_proxies.client_of(peer, forwarded);
}

asio::awaitable<void> Server::Impl::session(tcp::socket socket, Worker& worker,
                                            bool admin_listener) {
  Open open(open_connections);
  boost::system::error_code rec;
  const auto ep = socket.remote_endpoint(rec);
  const std::string remote = rec ? std::string() : ep.address().to_string();
  beast::tcp_stream conn(std::move(socket));
  beast::tcp_stream* stream = &conn;
  IdleNode idle{.stream = stream};
  IdleScope unlink_at_end{worker.idle, idle};
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(cfg.body_limit);
    parser.header_limit(8 * 1024);
    stream->expires_after(first ? cfg.header_timeout : cfg.idle_timeout);
    first = false;
    // Waiting for a request (a keep-alive connection, or a slow client's headers): the first
    // to go when the server is full.
    worker.idle.push(idle);
    auto [ec, n] = co_await http::async_read_header(*stream, buffer, parser, kTuple);
    worker.idle.remove(idle);
    // Shed while waiting: the socket is closed, whatever the read brought.
    if (idle.shed) break;
    if (ec == http::error::header_limit) {
      auto res = error_response(http::status::request_header_fields_too_large, "headers_too_large",
                                "request headers exceed 8 KiB");
      res.keep_alive(false);
      stream->expires_after(cfg.header_timeout);
      co_await http::async_write(*stream, res, kTuple);
      break;
    }
    // A Content-Length over the limit is refused as soon as the header is read; a chunked
    // body over it, while reading the body below.
    if (ec == http::error::body_limit) {
      co_await refuse_body(*stream);
      co_return;
    }
    if (ec) break;  // closed, timed out, shed or garbage: nothing to answer
    const std::string_view target = parser.get().target();
    if (websocket::is_upgrade(parser.get()) && target.substr(0, target.find('?')) == "/v1/ws") {
      stream->expires_never();
      std::string client = client_of(parser.get(), remote);
      co_await ws_session(std::move(*stream), parser.release(), std::move(client));
      co_return;
    }
    stream->expires_after(cfg.header_timeout);
    // curl and others wait for "100 Continue" before sending a body they announced.
    if (auto it = parser.get().find(http::field::expect);
        it != parser.get().end() && beast::iequals(it->value(), "100-continue") &&
        parser.content_length().value_or(0) <= cfg.body_limit) {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      auto [ecc, nc] = co_await http::async_write(*stream, cont, kTuple);
      if (ecc) break;
    }
    auto [ec2, n2] = co_await http::async_read(*stream, buffer, parser, kTuple);
    if (ec2 == http::error::body_limit) {
      co_await refuse_body(*stream);
      co_return;
    }
    if (ec2) {
      if (ec2 != beast::error::timeout && ec2 != http::error::end_of_stream &&
          ec2 != asio::error::eof && ec2 != asio::error::connection_reset) {
        auto res = error_response(http::status::bad_request, "bad_request",
                                  "the request could not be read as HTTP/1.1");
        res.keep_alive(false);
        co_await http::async_write(*stream, res, kTuple);
      }
      break;
    }
    Request req = parser.release();
    // Per request: a balancer's one connection carries many clients' requests.
    const std::string client = client_of(req, remote);
    Response res = co_await handle(req, client, admin_listener);
    res.version(req.version());
    res.keep_alive(req.keep_alive() && !draining.load());
    res.set("X-Content-Type-Options", "nosniff");
    stream->expires_after(cfg.idle_timeout);
    auto [ec3, n3] = co_await http::async_write(*stream, res, kTuple);
    if (ec3 || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
}

core::Result<std::optional<catalog::User>> Server::Impl::user_of(std::string_view token) {
  if (token.empty()) return std::optional<catalog::User>();
  auto id = app.identity().verify_user_token(token, app.clock().wall_now());
  if (!id.ok()) return core::fail(std::move(id).error());
  auto u = app.catalog().user(*id);
  if (!u) return core::fail("invalid_token", "the bearer token names no known user");
  return u;
}

std::string Server::Impl::session_of(const Request* req, std::string_view body_session,
                                     const std::string& remote, bool& issued) {
  issued = false;
  const Identity& ids = app.identity();
  if (!body_session.empty() && ids.verify_session(body_session)) return std::string(body_session);
  if (req != nullptr) {
    if (auto c = cookie(*req, kSessionCookie); !c.empty() && ids.verify_session(c))
      return std::string(c);
  }
  if (!issuer.try_issue(source_key(remote), app.clock().now())) return {};
  issued = true;
  return ids.issue_session();
}

bool Server::Impl::origin_allowed(const Request& req) const {
  auto it = req.find(http::field::origin);
  if (it == req.end()) return true;  // not a browser: nothing to hijack
  const std::string_view origin = it->value();
  for (const auto& o : cfg.allowed_origins) {
    if (beast::iequals(o, origin)) return true;
  }
  // The page this server served: its origin names the Host the browser connected to.
  auto host = req.find(http::field::host);
  if (host == req.end()) return false;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.size() == scheme.size() + host->value().size() &&
        beast::iequals(origin.substr(0, scheme.size()), scheme) &&
        beast::iequals(origin.substr(scheme.size()), host->value()))
      return true;
  }
  return false;
}

std::optional<Response> Server::Impl::admin_refusal(const Request& req) const {
  if (admin_token.empty()) {
    return error_response(
        http::status::forbidden, "admin_disabled",
        "the admin API is off: set MANGAASSIST_ADMIN_TOKEN or server.admin_token");
  }
  if (!core::constant_time_equals(bearer(req), admin_token)) {
    return error_response(http::status::unauthorized, "unauthorized",
                          "a valid admin bearer token is required");
  }
  return std::nullopt;
}

asio::awaitable<Response> Server::Impl::handle(Request& req, const std::string& remote,
                                               bool admin_listener) {
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const auto method = req.method();
  if (path == "/v1/chat") {
    if (method != http::verb::post) {
      co_return error_response(http::status::method_not_allowed, "method_not_allowed", "use POST");
    }
    co_return co_await chat(req, remote);
  }
  if (path == "/healthz") co_return json_response(http::status::ok, R"({"status":"ok"})");
  if (path == "/readyz") {
    if (draining.load()) {
      co_return json_response(http::status::service_unavailable, R"({"status":"draining"})");
    }
    co_return json_response(http::status::ok, R"({"status":"ready"})");
  }
  if (path == "/status" || path == "/metrics") {
    // Flags, limits, the fleet and every counter: for operators and Prometheus only.
    if (!admin_listener) {
      if (auto refused = admin_refusal(req)) co_return std::move(*refused);
    }
    co_return path == "/status" ? status() : metrics();
  }
  if (path.starts_with("/admin/")) co_return admin(req, path);
  if (path == "/" || path == "/index.html") {
    if (index_html.empty()) {
      co_return error_response(http::status::not_found, "not_found",
                               "the chat page is not installed");
    }
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/html; charset=utf-8");
    // The page's own script and style only, its WebSocket, and never inside another site's
    // frame (clickjacking).
    res.set("Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
            "'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "same-origin");
    res.body() = index_html;
    res.prepare_payload();
    co_return res;
  }
  if (path == "/v1/ws") {
    co_return error_response(http::status::upgrade_required, "upgrade_required",
                             "/v1/ws is a WebSocket endpoint");
  }
  // The path is not echoed: an error body never repeats what the client sent.
  co_return error_response(http::status::not_found, "not_found", "there is no such page");
}

asio::awaitable<Response> Server::Impl::chat(Request& req, const std::string& remote) {
  if (draining.load()) {
    co_return error_response(http::status::service_unavailable, "shutting_down",
                             "this server is restarting; your client should connect to another");
  }
  auto user = user_of(bearer(req));
  if (!user.ok()) {
    auto res = error_response(http::status::unauthorized, user.error().code, user.error().message);
    res.set(http::field::www_authenticate, "Bearer");
    co_return res;
  }
  auto parsed = parse_chat(req.body(), cfg.max_message_chars, false);
  if (!parsed.ok()) {
    bad_requests->inc();
    co_return error_response(http::status::bad_request, parsed.error().code,
                             parsed.error().message);
  }
  InFlight guard(owner.in_flight_);
  const bool japanese = core::looks_japanese(parsed->message);
  bool issued = false;
  const std::string session =
      *user ? std::string() : session_of(&req, parsed->session_id, remote, issued);
  Answer a = co_await answer(std::move(parsed).value(), std::move(*user), session, remote, {}, {});
  Response res;
  if (a.refused) {
    res = json_response(http::status::too_many_requests, rate_limited_body(*a.refused, japanese));
    res.set(http::field::retry_after, std::to_string(ceil_seconds(a.refused->retry_after)));
  } else {
    res = json_response(http::status::ok,
                        reply_json(a.reply, app.pipeline().status(), "", "", session));
    res.set("X-Trace-Id", a.reply.trace_id);
  }
  if (issued) res.set(http::field::set_cookie, session_cookie(session));
  co_return res;
}

asio::awaitable<Server::Impl::Answer> Server::Impl::answer(ParsedChat p,
                                                           std::optional<catalog::User> user,
                                                           std::string session, std::string remote,
                                                           admission::QueuedSink on_queued,
                                                           assist::TierChunkSink on_chunk) {
  ChatInput in{std::move(p.message), std::move(session), std::move(user), std::move(remote),
               new_trace_id(app.clock().wall_now())};
  co_return co_await app.flow().answer(std::move(in), std::move(on_queued), std::move(on_chunk));
}

namespace {

// One WebSocket connection: a reader, a writer and an idle watch, coroutines on the
// connection's strand. What waits unsent is bounded: past half the bound the reader stops
// reading (the client's own sends then block in TCP), and a client that does not read for
// ws_send_timeout, or whose replies pass the bound, is cut.
struct WsConn : std::enable_shared_from_this<WsConn> {
  WsConn(beast::tcp_stream&& s, const ServerConfig& c, core::Clock& clk,
         observe::Family<observe::Counter>& closes)
      : ws(std::move(s)),
        wake(ws.get_executor()),
        drained(ws.get_executor()),
        idle(ws.get_executor()),
        cfg(c),
        clock(clk),
        closes_(closes) {}
  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer wake;     // the writer's: something to send
  asio::steady_timer drained;  // the reader's: the outbox went under the low-water mark
  asio::steady_timer idle;     // the idle watch's
  const ServerConfig& cfg;
  core::Clock& clock;
  observe::Family<observe::Counter>& closes_;
  std::deque<std::string> outbox;
  std::size_t queued_bytes = 0;
  core::TimePoint last_progress{};  // the writer last finished a write
  core::TimePoint last_message{};   // the client last sent a message
  bool closed = false;
  bool closing = false;  // close (close_code) once the outbox is empty
  websocket::close_reason close_code{websocket::close_code::going_away, "server restarting"};
  int in_flight = 0;

  std::size_t high_water() const { return cfg.ws_max_queued_bytes / 2; }

  void send(std::string msg) {
    if (closed) return;
    if (queued_bytes + msg.size() > cfg.ws_max_queued_bytes) {
      cut("slow_reader");
      return;
    }
    if (outbox.empty()) last_progress = clock.now();  // the clock runs from the first wait
    queued_bytes += msg.size();
    outbox.push_back(std::move(msg));
    wake.cancel();
  }
  // Closes after what is queued is sent (a close frame with `reason`).
  void close_after_flush(websocket::close_reason reason) {
    if (closed || closing) return;
    closing = true;
    close_code = std::move(reason);
    wake.cancel();
  }
  // Drops the connection now: the client is not reading, a close handshake would wait too.
  void cut(const char* reason) {
    if (closed) return;
    closes_.with({reason}).inc();
    closed = true;
    outbox.clear();
    queued_bytes = 0;
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
    wake.cancel();
    drained.cancel();
    idle.cancel();
  }
  asio::awaitable<void> writer() {
    auto self = shared_from_this();
    while (!closed) {
      if (outbox.empty() && closing) {
        // A close frame, so the client knows why (and to reconnect, perhaps elsewhere)
        // rather than see the connection drop.
        (void)co_await ws.async_close(close_code, kTuple);
        closed = true;
        break;
      }
      if (outbox.empty()) {
        wake.expires_at(asio::steady_timer::time_point::max());
        co_await wake.async_wait(kTuple);
        continue;
      }
      std::string msg = std::move(outbox.front());
      outbox.pop_front();
      ws.text(true);
      auto [ec, n] = co_await ws.async_write(asio::buffer(msg), kTuple);
      if (ec) {
        closed = true;
        break;
      }
      queued_bytes -= std::min(queued_bytes, msg.size());
      last_progress = clock.now();
      if (queued_bytes <= high_water() / 2) drained.cancel();
    }
    outbox.clear();
    queued_bytes = 0;
    drained.cancel();
    idle.cancel();
  }
  // Waits until the outbox is under the high-water mark. False: cut (no progress).
  asio::awaitable<bool> wait_for_room() {
    while (!closed && queued_bytes > high_water()) {
      drained.expires_after(cfg.ws_send_timeout);
      co_await drained.async_wait(kTuple);
      if (!closed && queued_bytes > high_water() &&
          clock.now() - last_progress >= cfg.ws_send_timeout) {
        cut("slow_reader");
      }
    }
    co_return !closed;
  }
  // Closes a connection that sent no message for ws_idle_timeout and waits for nothing.
  asio::awaitable<void> idle_watch() {
    auto self = shared_from_this();
    while (!closed && !closing) {
      const core::Duration left = last_message + cfg.ws_idle_timeout - clock.now();
      if (left <= core::Duration::zero() && in_flight == 0) {
        closes_.with({"idle"}).inc();
        close_after_flush(websocket::close_reason(websocket::close_code::normal, "idle"));
        break;
      }
      idle.expires_after(std::max<core::Duration>(left, std::chrono::milliseconds(100)));
      co_await idle.async_wait(kTuple);
    }
  }
};

std::string ws_error(std::string_view code, std::string_view message, std::string_view request_id) {
  json::object o;
  o["type"] = "error";
  o["error"] = code;
  o["message"] = message;
  if (!request_id.empty()) o["request_id"] = request_id;
  return json::serialize(o);
}

}  // namespace

asio::awaitable<void> Server::Impl::ws_session(beast::tcp_stream stream, Request req,
                                               std::string remote) {
  // Refusals are plain HTTP answers to the upgrade request.
  auto refuse = [&](http::status status, std::string_view code,
                    std::string_view message) -> asio::awaitable<void> {
    auto res = error_response(status, code, message);
    res.version(req.version());
    res.keep_alive(false);
    stream.expires_after(cfg.header_timeout);
    co_await http::async_write(stream, res, kTuple);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  };
  if (!origin_allowed(req)) {
    ws_closes->with({"origin"}).inc();
    co_await refuse(http::status::forbidden, "origin_not_allowed",
                    "this page may not open the chat's WebSocket");
    co_return;
  }
  // Browsers cannot set headers on a WebSocket: ?token=... is accepted too.
  std::string_view token = bearer(req);
  if (token.empty()) token = query_param(req.target(), "token");
  auto user = user_of(token);
  if (!user.ok()) {
    co_await refuse(http::status::unauthorized, user.error().code, user.error().message);
    co_return;
  }
  bool issued = false;
  const std::string conn_session = *user ? std::string() : session_of(&req, {}, remote, issued);

  // A fixed kernel send buffer: left to autotuning it grows to megabytes, and a client that
  // does not read would hold that much kernel memory before the outbox bound is ever reached.
  boost::system::error_code sndbuf_ec;
  stream.socket().set_option(asio::socket_base::send_buffer_size(64 * 1024), sndbuf_ec);
  auto conn = std::make_shared<WsConn>(std::move(stream), cfg, app.clock(), *ws_closes);
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = cfg.header_timeout;
  // Pings every ws_ping_interval; a peer silent for twice that (no pong) is gone.
  timeouts.idle_timeout =
      2 * std::chrono::duration_cast<std::chrono::steady_clock::duration>(cfg.ws_ping_interval);
  timeouts.keep_alive_pings = true;
  conn->ws.set_option(timeouts);
  // Our own limit is checked as the message arrives (below), so that the client is told
  // before the 1009 close; Beast's is a backstop.
  conn->ws.read_message_max(cfg.body_limit * 4);
  if (issued) {
    conn->ws.set_option(websocket::stream_base::decorator(
        [cookie = session_cookie(conn_session)](websocket::response_type& res) {
          res.set(http::field::set_cookie, cookie);
        }));
  }
  auto [ec] = co_await conn->ws.async_accept(req, kTuple);
  if (ec) co_return;
  conn->last_message = app.clock().now();
  asio::co_spawn(conn->ws.get_executor(), conn->writer(), asio::detached);
  asio::co_spawn(conn->ws.get_executor(), conn->idle_watch(), asio::detached);
  std::uint64_t ws_id = 0;
  {
    std::lock_guard lock(ws_mu);
    ws_id = next_ws++;
    ws_closers.emplace(ws_id, [weak = std::weak_ptr<WsConn>(conn)] {
      if (auto c = weak.lock()) {
        asio::post(c->ws.get_executor(), [c] {
          c->close_after_flush(
              websocket::close_reason(websocket::close_code::going_away, "server restarting"));
        });
      }
    });
  }
  struct Unregister {
    Impl& self;
    std::uint64_t id;
    ~Unregister() {
      std::lock_guard lock(self.ws_mu);
      self.ws_closers.erase(id);
    }
  } unregister{*this, ws_id};
  resilience::TokenBucket invalid({.rate = 2, .burst = 20}, app.clock().now());
  beast::flat_buffer buf;
  for (;;) {
    if (!co_await conn->wait_for_room()) break;
    if (conn->closing) break;
    boost::system::error_code rec;
    bool too_big = false;
    do {
      auto [e, n] = co_await conn->ws.async_read_some(buf, 4096, kTuple);
      rec = e;
      if (!rec && buf.size() > cfg.body_limit) too_big = true;
    } while (!rec && !too_big && !conn->ws.is_message_done());
    if (too_big) {
      bad_requests->inc();
      ws_closes->with({"too_big"}).inc();
      conn->send(ws_error("body_too_large",
                          "messages are limited to " + std::to_string(cfg.body_limit) + " bytes",
                          ""));
      conn->close_after_flush(
          websocket::close_reason(websocket::close_code::too_big, "message too big"));
      break;
    }
    if (rec) break;
    conn->last_message = app.clock().now();
    const std::string body = beast::buffers_to_string(buf.data());
    buf.consume(buf.size());
    auto parsed = parse_chat(body, cfg.max_message_chars, true);
    if (!parsed.ok()) {
      bad_requests->inc();
      conn->send(ws_error(parsed.error().code, parsed.error().message, ""));
      // Each bad message is answered; a stream of them (a broken or hostile client) is not
      // served forever: 20 at once, then 2 a second, then the connection is closed (1008).
      if (invalid.try_acquire(app.clock().now()) != resilience::BucketVerdict::kAllowed) {
        ws_closes->with({"invalid_flood"}).inc();
        conn->close_after_flush(websocket::close_reason(websocket::close_code::policy_error,
                                                        "too many invalid messages"));
        break;
      }
      continue;
    }
    if (draining.load()) {
      conn->send(ws_error("shutting_down", "this server is restarting", parsed->request_id));
      continue;
    }
    if (conn->in_flight >= 8) {
      conn->send(ws_error("too_many_in_flight",
                          "at most 8 messages may wait for a reply on one connection",
                          parsed->request_id));
      continue;
    }
    // A session id in the message counts only when the server signed it.
    std::string session = conn_session;
    if (!*user && !parsed->session_id.empty() &&
        app.identity().verify_session(parsed->session_id)) {
      session = parsed->session_id;
    }
    ++conn->in_flight;
    auto task = [](Impl& self, std::shared_ptr<WsConn> c, ParsedChat p,
                   std::optional<catalog::User> u, std::string session,
                   std::string remote) -> asio::awaitable<void> {
      InFlight guard(self.owner.in_flight_);
      const std::string rid = p.request_id;
      auto on_queued = [c, rid](std::size_t position, core::Duration eta) {
        json::object o;
        o["type"] = "queued";
        if (!rid.empty()) o["request_id"] = rid;
        o["position"] = position;
        o["eta_s"] = ceil_seconds(eta);
        c->send(json::serialize(o));
      };
      auto on_chunk = [c, rid](const assist::StreamChunk& chunk) {
        json::object o;
        o["type"] = "chunk";
        if (!rid.empty()) o["request_id"] = rid;
        o["tier"] = assist::to_string(chunk.tier);
        o["attempt"] = chunk.attempt;
        o["text"] = chunk.text;
        c->send(json::serialize(o));
      };
      const bool japanese = core::looks_japanese(p.message);
      // One final message per accepted request: an error (user over their own limit), the
      // high-demand reply (waited too long), or the pipeline's reply.
      Answer a =
          co_await self.answer(std::move(p), std::move(u), session, remote, on_queued, on_chunk);
      if (a.refused) {
        auto body = json::parse(rate_limited_body(*a.refused, japanese)).as_object();
        body["type"] = "error";
        if (!rid.empty()) body["request_id"] = rid;
        c->send(json::serialize(body));
      } else {
        c->send(reply_json(a.reply, self.app.pipeline().status(), "reply", rid));
      }
      --c->in_flight;
    };
    asio::co_spawn(conn->ws.get_executor(),
                   task(*this, conn, std::move(parsed).value(), *user, session, remote),
                   asio::detached);
  }
  if (!conn->closing) {
    conn->closed = true;
    conn->wake.cancel();
    conn->idle.cancel();
  }
}

namespace {
json::object plan_json(const admission::UsagePlan& p) {
  return json::object{{"rate", p.rate}, {"burst", p.burst}, {"quota_per_day", p.quota}};
}
json::object limits_json(admission::Admission& a) {
  const auto cfg = a.config();
  json::object plans;
  for (int i = 0; i < admission::kPriorities; ++i) {
    plans[admission::to_string(static_cast<admission::Priority>(i))] =
        plan_json(cfg.plans[static_cast<std::size_t>(i)]);
  }
  plans["per_source"] = plan_json(cfg.per_source);
  const auto traffic = a.traffic();
  const auto spike = a.spike();
  return json::object{{"plans", std::move(plans)},
                      {"global", json::object{{"rate", cfg.global_rate},
                                              {"burst", cfg.global_burst},
                                              {"dynamic", cfg.dynamic},
                                              {"rate_in_force", a.global_rate()}}},
                      {"queue_depth", a.queue_depth()},
                      {"tracked_buckets", a.tracked_buckets()},
                      {"traffic_rps", traffic.rate},
                      {"spike", spike == admission::SpikeKind::kOrganic   ? "organic"
                                : spike == admission::SpikeKind::kAbusive ? "abusive"
                                                                          : "none"}};
}
}  // namespace

json::array alarms_json(App& app, bool firing_only) {
  json::array out;
  for (const auto& a : app.alarms().evaluate(app.clock().now())) {
    if (firing_only && !a.firing) continue;
    out.push_back(json::object{{"name", a.name},
                               {"subject", a.subject},
                               {"firing", a.firing},
                               {"value", a.value},
                               {"threshold", a.threshold},
                               {"message", a.message}});
  }
  return out;
}

Response Server::Impl::limits(Request& req) {
  auto& a = app.admission();
  if (req.method() == http::verb::get)
    return json_response(http::status::ok, json::serialize(limits_json(a)));
  if (req.method() != http::verb::put && req.method() != http::verb::patch) {
    return error_response(http::status::method_not_allowed, "method_not_allowed", "use GET or PUT");
  }
  auto v = core::parse_json(req.body());
  if (!v.ok() || !v->is_object())
    return error_response(http::status::bad_request, "invalid_json", "expected a JSON object");
  // Validate everything first, then apply: all or nothing.
  std::vector<std::pair<admission::Priority, admission::UsagePlan>> plan_changes;
  const auto cfg = a.config();
  if (const auto* plans = v->get_object().if_contains("plans")) {
    if (!plans->is_object())
      return error_response(http::status::bad_request, "invalid_field", "plans must be an object");
    for (const auto& [name, body] : plans->get_object()) {
      int idx = -1;
      for (int i = 0; i < admission::kPriorities; ++i) {
        if (admission::to_string(static_cast<admission::Priority>(i)) == name) idx = i;
      }
      if (idx < 0)
        return error_response(http::status::bad_request, "invalid_field",
                              "unknown plan " + std::string(name));
      admission::UsagePlan p = cfg.plans[static_cast<std::size_t>(idx)];
      p.rate = core::get_number(body, "rate").value_or(p.rate);
      p.burst = core::get_number(body, "burst").value_or(p.burst);
      p.quota = core::get_int(body, "quota_per_day").value_or(p.quota);
      if (p.rate <= 0 || p.burst < 1 || p.quota < 0) {
        return error_response(http::status::bad_request, "invalid_field",
                              "rate > 0, burst >= 1, quota_per_day >= 0");
      }
      plan_changes.emplace_back(static_cast<admission::Priority>(idx), p);
    }
  }
  std::optional<std::tuple<double, double, bool>> global;
  if (const auto* g = v->get_object().if_contains("global")) {
    const double rate = core::get_number(*g, "rate").value_or(cfg.global_rate);
    const double burst = core::get_number(*g, "burst").value_or(cfg.global_burst);
    const bool dynamic = core::get_bool(*g, "dynamic").value_or(cfg.dynamic);
    if (rate <= 0 || burst < 1)
      return error_response(http::status::bad_request, "invalid_field",
                            "global rate > 0, burst >= 1");
    global = {rate, burst, dynamic};
  }
  for (const auto& [p, plan] : plan_changes) a.set_plan(p, plan);
  if (global) a.set_global(std::get<0>(*global), std::get<1>(*global), std::get<2>(*global));
  return json_response(http::status::ok, json::serialize(limits_json(a)));
}

Response Server::Impl::status() {
  const auto st = app.pipeline().status();
  json::object o = status_json(st);
  json::array models;
  for (const auto& m : st.models) {
    models.push_back(json::object{
        {"name", m.name},
        {"breaker", resilience::to_string(m.breaker)},
        {"probe_in_ms",
         std::chrono::duration_cast<std::chrono::milliseconds>(m.time_until_probe).count()},
        {"client_limiter", m.limiter_enabled ? json::value(m.limiter_rate) : json::value(nullptr)},
        {"retry_quota", m.retry_quota}});
  }
  o["model_details"] = std::move(models);
  o["flags"] = app.flags().to_json();
  o["in_flight"] = owner.in_flight();
  app.refresh_alarm_inputs();
  o["alarms_firing"] = alarms_json(app, true);
  o["admission"] = limits_json(app.admission());
  o["cache_entries"] = app.cache().size();
  o["fleet"] = json::object{{"state", app.shared_state().kind()},
                            {"healthy", app.shared_state().healthy()},
                            {"servers", app.shared_state().live_servers()}};
  return json_response(http::status::ok, json::serialize(o));
}

Response Server::Impl::metrics() {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = app.metrics().render();
  res.prepare_payload();
  return res;
}

Response Server::Impl::admin(Request& req, std::string_view path) {
  if (auto refused = admin_refusal(req)) return std::move(*refused);
  const auto method = req.method();
  auto body_json = [&]() -> core::Result<json::value> {
    if (req.body().empty()) return json::value(json::object{});
    if (!core::is_valid_utf8(req.body()))
      return core::fail("invalid_utf8", "the body is not valid UTF-8");
    auto v = core::parse_json(req.body());
    if (!v.ok()) return core::fail("invalid_json", v.error().message);
    if (!v->is_object()) return core::fail("invalid_json", "the body must be a JSON object");
    return v;
  };

  if (path == "/admin/flags") {
    if (method == http::verb::get) {
      return json_response(http::status::ok, json::serialize(app.flags().to_json()));
    }
    if (method != http::verb::patch) {
      return error_response(http::status::method_not_allowed, "method_not_allowed",
                            "use GET or PATCH");
    }
    auto body = body_json();
    if (!body.ok())
      return error_response(http::status::bad_request, body.error().code, body.error().message);
    if (auto st = app.flags().patch(*body); !st.ok()) {
      return error_response(http::status::bad_request, st.error().code, st.error().message);
    }
    // The whole set, so every server ends up with the same flags.
    app.shared_state().publish_flags(json::serialize(app.flags().to_json()));
    return json_response(http::status::ok, json::serialize(app.flags().to_json()));
  }

  if (path == "/admin/chaos") {
    if (method != http::verb::post) {
      return error_response(http::status::method_not_allowed, "method_not_allowed", "use POST");
    }
    auto body = body_json();
    if (!body.ok())
      return error_response(http::status::bad_request, body.error().code, body.error().message);
    std::vector<fm::SimulatedBedrock*> targets;
    const std::string model(core::get_string(*body, "model").value_or("all"));
    if (model == "all") {
      targets = {app.simulated("sonnet"), app.simulated("haiku")};
    } else if (model == "sonnet" || model == "haiku") {
      targets = {app.simulated(model)};
    } else {
      return error_response(http::status::bad_request, "invalid_model",
                            "model must be sonnet, haiku or all");
    }
    if (std::find(targets.begin(), targets.end(), nullptr) != targets.end()) {
      return error_response(http::status::conflict, "not_simulated",
                            "chaos applies to simulated models only");
    }
    if (core::get_bool(*body, "clear").value_or(false)) {
      for (auto* t : targets) t->clear_faults();
      return json_response(http::status::ok, R"({"cleared":true})");
    }
    fm::FaultSpec f;
    const double throttle = core::get_number(*body, "throttle_rate").value_or(0);
    const double unknown = core::get_number(*body, "unknown_error_rate").value_or(0);
    const double latency_ms = core::get_number(*body, "latency_ms").value_or(0);
    const double duration_s = core::get_number(*body, "duration_s").value_or(45);
    if (throttle < 0 || throttle > 1 || unknown < 0 || unknown > 1) {
      return error_response(http::status::bad_request, "invalid_rate",
                            "rates must be between 0 and 1");
    }
    if (latency_ms < 0 || latency_ms > 600'000 || duration_s <= 0 || duration_s > 86'400) {
      return error_response(http::status::bad_request, "invalid_duration",
                            "latency_ms must be 0-600000 and duration_s 0-86400");
    }
    f.throttle_rate = throttle;
    f.unknown_error_rate = unknown;
    f.outage = core::get_bool(*body, "outage").value_or(false);
    f.extra_latency = core::from_seconds(latency_ms / 1000.0);
    f.until = app.clock().now() + core::from_seconds(duration_s);
    for (auto* t : targets) t->set_faults(f);
    json::object o;
    o["applied"] = model;
    o["duration_s"] = duration_s;
    return json_response(http::status::ok, json::serialize(o));
  }

  if (path.starts_with("/admin/catalog/products/")) {
    if (method != http::verb::put) {
      return error_response(http::status::method_not_allowed, "method_not_allowed", "use PUT");
    }
    const std::string id(path.substr(std::string_view("/admin/catalog/products/").size()));
    auto body = body_json();
    if (!body.ok())
      return error_response(http::status::bad_request, body.error().code, body.error().message);
    const auto price = core::get_int(*body, "price_jpy");
    const auto stock = core::get_int(*body, "stock");
    const bool has_price = body->get_object().contains("price_jpy");
    const bool has_stock = body->get_object().contains("stock");
    if ((has_price && !price) || (has_stock && !stock) || (!has_price && !has_stock)) {
      return error_response(http::status::bad_request, "invalid_field",
                            "give price_jpy and/or stock as integers");
    }
    auto st = app.catalog().update_product(
        id,
        price
            ? std::optional<int>(static_cast<int>(std::clamp<std::int64_t>(*price, -1, 2'000'000)))
            : std::nullopt,
        stock
            ? std::optional<int>(static_cast<int>(std::clamp<std::int64_t>(*stock, -1, 2'000'000)))
            : std::nullopt);
    if (!st.ok()) {
      const auto status =
          st.error().code == "not_found" ? http::status::not_found : http::status::bad_request;
      return error_response(status, st.error().code, st.error().message);
    }
    const auto p = app.catalog().product(id);
    json::object o{{"id", p->id}, {"price_jpy", p->price_jpy}, {"stock", p->stock}};
    return json_response(http::status::ok, json::serialize(o));
  }

  if (path == "/admin/cache/flush") {
    if (method != http::verb::post) {
      return error_response(http::status::method_not_allowed, "method_not_allowed", "use POST");
    }
    auto body = body_json();
    if (!body.ok())
      return error_response(http::status::bad_request, body.error().code, body.error().message);
    const std::string category(core::get_string(*body, "category").value_or(""));
    if (!category.empty() && !assist::parse_intent(category)) {
      return error_response(http::status::bad_request, "invalid_category",
                            "category must be one of the intents (pricing, availability, ...)");
    }
    json::object o{{"flushed", app.flush_cache(category)}};
    return json_response(http::status::ok, json::serialize(o));
  }

  if (path == "/admin/limits") return limits(req);

  if (path == "/admin/alarms") {
    app.refresh_alarm_inputs();
    return json_response(http::status::ok,
                         json::serialize(json::object{{"alarms", alarms_json(app, false)}}));
  }
  return error_response(http::status::not_found, "not_found", "there is no such admin route");
}

}  // namespace ma::server
