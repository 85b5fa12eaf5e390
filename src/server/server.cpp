#include "server/server.hpp"

#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/json_util.hpp"
#include "core/supervised.hpp"
#include "server/admin_api.hpp"
#include "server/http_session.hpp"
#include "server/idle_list.hpp"
#include "server/later.hpp"
#include "server/server_context.hpp"

namespace ma::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// server.threads, 0 meaning one per core.
ServerConfig with_threads(ServerConfig c) {
  if (c.threads <= 0)
    c.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return c;
}

// Admin handlers' blocking work (SQLite writes, Redis publishes): rare, so two threads.
constexpr int kAdminPoolThreads = 2;

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
  std::atomic<std::thread::id> thread{};  // the thread running ioc, once it runs

  void run() {
    thread.store(std::this_thread::get_id());
    ioc.run();
  }
};

struct Server::Impl {
  Impl(App& a, ServerConfig c, Server& o)
      : ctx(a, with_threads(std::move(c)), o.in_flight_),
        owner(o),
        workers(make_workers(ctx.cfg.threads)),
        ioc(workers.front()->ioc),
        acceptor(ioc),
        admin_acceptor(ioc),
        signals(ioc),
        admin(a, ctx.cfg.admin_token, admin_pool.get_executor()) {}

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

  // What the connections share (the open-connection count, the WebSocket registry, ...).
  ServerContext ctx;
  Server& owner;

  // Declared after ctx, so destroyed before it: a worker's io_context destroys the coroutine
  // frames still pending in it (connections open at shutdown), whose destructors use ctx; the
  // listeners and the signal set belong to the first worker's io_context and go before it.
  std::vector<std::unique_ptr<Worker>> workers;
  // The first worker's: it also runs the listeners, the signal watch, the drain and the
  // background jobs (sale watcher, validation, log flusher, OTLP export).
  asio::io_context& ioc;
  std::atomic<std::size_t> next_worker{0};
  tcp::acceptor acceptor;
  tcp::acceptor admin_acceptor;  // server.admin_port: /metrics, /status, /admin
  asio::signal_set signals;
  // Where the admin API's blocking work runs, off the io threads. Destroyed (joined) before
  // the workers, whose io_contexts its completions are posted to.
  asio::thread_pool admin_pool{kAdminPoolThreads};
  AdminApi admin;

  asio::awaitable<void> accept_loop(tcp::acceptor& from, bool admin_listener);
  // Makes room for one more connection on `to`: at the cap, the oldest idle connection of
  // `to` (else of another worker that has one) is shed on its worker's thread. False: at the
  // cap with nothing idle (the new connection is refused).
  // NOTE: the shed runs on the idle connection's worker a moment later; if that connection
  // got a request meanwhile, nothing is shed and the server is one over its cap until a
  // connection closes. The cap stays far below the descriptor limit (config.hpp).
  bool make_room(Worker& to);
  static void shed_oldest(Worker& w, ServerContext& ctx);
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
  ServerContext& ctx = impl_->ctx;
  ctx.bad_requests =
      &app.metrics()
           .counter("mangaassist_bad_requests_total", "Requests refused as malformed (4xx).")
           .get();
  ctx.connection_events = &app.metrics().counter(
      "mangaassist_connection_events_total",
      "Connections shed (oldest idle, at server.max_connections), refused (at the cap with "
      "none idle) and accept errors (out of file descriptors), by event.",
      {"event"});
  ctx.ws_closes = &app.metrics().counter(
      "mangaassist_ws_closed_total",
      "WebSocket connections the server closed, by reason (slow_reader: replies not read "
      "within ws_send_timeout; too_big; idle; origin: a handshake refused).",
      {"reason"});
  // Supervised tasks (core/supervised.hpp) ended by an exception, by task.
  auto& task_failures = app.metrics().counter(
      "mangaassist_task_failures_total",
      "Background tasks (and connections' coroutines) ended by an exception, by task; a "
      "background task is then restarted, or for the listeners the server stops cleanly.",
      {"task"});
  app.metrics().add_collector([&task_failures] {
    for (const auto& [task, n] : core::task_failures().snapshot())
      task_failures.with({task}).set_total(n);
  });
  auto& open_gauge = app.metrics().gauge("mangaassist_connections_open",
                                         "Open client connections (HTTP and WebSocket).");
  app.metrics().add_collector([&ctx, &open_gauge] {
    open_gauge.get().set(static_cast<double>(ctx.open_connections.load()));
  });
  // Answer later (later.hpp): what waits, and what became of the questions left.
  auto& later_held = app.metrics().gauge(
      "mangaassist_later_held",
      "Questions left on a degraded reply, waiting for an answer (fleet mode: the fleet's, read "
      "from Redis; approximate while questions move).");
  auto& later_ready = app.metrics().gauge(
      "mangaassist_later_ready",
      "Answers to left questions waiting for their owner to come back (fleet mode: the fleet's).");
  auto& later_left = app.metrics().counter("mangaassist_later_left_total",
                                           "Questions users left to be answered later.");
  auto& later_answered =
      app.metrics().counter("mangaassist_later_answered_total",
                            "Left questions answered by a model (kept for delivery).");
  auto& later_delivered = app.metrics().counter(
      "mangaassist_later_delivered_total",
      "Answers to left questions handed to their owner (WebSocket or POST /v1/later/answers).");
  auto& later_attempts = app.metrics().counter(
      "mangaassist_later_attempts_total",
      "Attempts at left questions (one a retry_interval while the replies stay degraded).");
  auto& later_expired =
      app.metrics().counter("mangaassist_later_expired_total",
                            "Left questions never answered, and answers never delivered, within "
                            "answer_later.max_wait_s, by what (question, answer).",
                            {"what"});
  auto& later_refused = app.metrics().counter(
      "mangaassist_later_refused_total",
      "Questions not taken, by code (later_invalid, later_full, later_disabled, "
      "later_unavailable: fleet mode, Redis down).",
      {"code"});
  app.metrics().add_collector([&ctx, &later_held, &later_ready, &later_left, &later_answered,
                               &later_delivered, &later_attempts, &later_expired, &later_refused] {
    const auto c = ctx.later.counts();
    later_held.get().set(static_cast<double>(c.held));
    later_ready.get().set(static_cast<double>(c.ready));
    later_left.get().set_total(c.left);
    later_answered.get().set_total(c.answered);
    later_delivered.get().set_total(c.delivered);
    later_attempts.get().set_total(c.attempts);
    later_expired.with({"question"}).set_total(c.expired_questions);
    later_expired.with({"answer"}).set_total(c.expired_answers);
    later_refused.with({"later_invalid"}).set_total(c.refused_invalid);
    later_refused.with({"later_full"}).set_total(c.refused_full);
    later_refused.with({"later_disabled"}).set_total(c.refused_disabled);
    later_refused.with({"later_unavailable"}).set_total(c.refused_unavailable);
  });
  // Fleet mode: an answer ready on any server reaches the owner's connections here.
  app.set_later_listener([&ctx](const std::string& owner) { ctx.deliver_later(owner); });
  if (ctx.cfg.max_connections == 0) {
    // Below the descriptor limit, with room for SQLite, Redis, logs and model connections.
    rlimit lim{};
    std::size_t fds = 1024;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) fds = lim.rlim_cur;
    ctx.cfg.max_connections = fds > 128 ? fds - fds / 8 - 64 : std::max<std::size_t>(8, fds / 2);
  }
  if (auto html = core::read_file(ctx.cfg.web_dir + "/index.html"); html.ok()) {
    ctx.index_html = std::move(html).value();
  }
  if (auto css = core::read_file(ctx.cfg.web_dir + "/pages.css"); css.ok()) {
    ctx.pages_css = std::move(css).value();
  }
  ctx.ops = OpsAssets::load(ctx.cfg.web_dir);
}

gateway::LaterStore& Server::later() { return impl_->ctx.later; }

Server::~Server() {
  impl_->ctx.app.set_later_listener({});  // waits for a delivery in progress
  impl_->stop_workers();
  join();
  // An admin handler still running finishes (a SQLite write, a Redis call bounded by its
  // timeout) before the io_contexts its completion is posted to go.
  impl_->admin_pool.join();
  // So does a read of the shared cache or a fleet budget spend the App's pool still runs.
  impl_->ctx.app.finish_blocking_work();
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
  const ServerConfig& cfg = impl_->ctx.cfg;
  auto port = bind_listener(impl_->acceptor, cfg.host, cfg.port);
  if (!port.ok()) return port;
  port_ = *port;
  auto& a = impl_->acceptor;
  App& app = impl_->ctx.app;
  const asio::any_io_executor ex = impl_->ioc.get_executor();
  // The listeners: an exception there is a bug (accept errors are values, handled in the
  // loop), and the listener is the server's reason to exist. Stop cleanly -- answer what is in
  // flight, /readyz says draining -- so that the orchestrator replaces the process, rather
  // than accept on with whatever state the bug left behind.
  auto accept = [this](tcp::acceptor& from, bool admin_listener, std::string task) {
    core::spawn_supervised(impl_->ioc.get_executor(), impl_->ctx.app.clock(),
                           [impl = impl_.get(), &from, admin_listener] {
                             return impl->accept_loop(from, admin_listener);
                           },
                           {.task = std::move(task),
                            .policy = core::SupervisePolicy::stop(),
                            .on_stop = [this] { shutdown(); }});
  };
  if (cfg.admin_port) {
    auto& b = impl_->admin_acceptor;
    auto admin = bind_listener(b, cfg.admin_host, *cfg.admin_port);
    if (!admin.ok()) return admin;
    admin_port_ = *admin;
    accept(b, true, "admin_accept_loop");
  }
  accept(a, false, "accept_loop");
  app.gateway().start(ex);
  // Periodic jobs, restarted: a fresh run loses at most one round (a second of log lines
  // waits longer to be written; a batch of spans is not exported).
  core::spawn_supervised(
      ex, app.clock(), [&app] { return app.run_flusher(); },
      {.task = "log_flusher", .policy = core::SupervisePolicy::restart(), .on_stop = {}});
  // Answering left questions, and the status pushed to every WebSocket (later.hpp): one
  // each per server, on this worker's steady timers; restarted (their state is elsewhere).
  ServerContext& ctx = impl_->ctx;
  if (ctx.later.config().enabled) {
    core::spawn_supervised(ex, app.clock(), [&ctx] { return run_later_answers(ctx); },
                           {.task = "later_answers",
                            .policy = core::SupervisePolicy::restart(std::chrono::seconds(1),
                                                                     std::chrono::seconds(30)),
                            .on_stop = {}});
  }
  core::spawn_supervised(
      ex, app.clock(), [&ctx] { return run_status_push(ctx); },
      {.task = "status_push", .policy = core::SupervisePolicy::restart(), .on_stop = {}});
  if (auto* otlp = app.otlp()) {
    core::spawn_supervised(ex, app.clock(), [otlp] { return otlp->run(); },
                           {.task = "otlp_exporter",
                            .policy = core::SupervisePolicy::restart(std::chrono::seconds(1),
                                                                     std::chrono::seconds(60)),
                            .on_stop = {}});
  }
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
    extra.emplace_back([w = impl_->workers[i].get()] { w->run(); });
  }
  impl_->workers.front()->run();
  for (auto& t : extra) t.join();
}

void Server::start() {
  for (auto& w : impl_->workers) threads_.emplace_back([w = w.get()] { w->run(); });
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

bool Server::is_worker_thread(std::thread::id id) const {
  for (const auto& w : impl_->workers) {
    if (w->thread.load() == id) return true;
  }
  return false;
}

void Server::Impl::start_drain() {
  if (ctx.draining.exchange(true)) return;
  boost::system::error_code ec;
  acceptor.close(ec);
  admin_acceptor.close(ec);
  signals.cancel(ec);
  // Answer what is in flight, then stop; never wait past the grace period.
  asio::co_spawn(
      ioc,
      [this]() -> asio::awaitable<void> {
        asio::steady_timer t(ioc);
        core::Clock& clock = ctx.app.clock();
        const core::TimePoint until = clock.now() + ctx.cfg.shutdown_grace;
        while (owner.in_flight() > 0 && clock.now() < until) {
          t.expires_after(std::chrono::milliseconds(20));
          co_await t.async_wait(kTuple);
        }
        // Then every WebSocket client gets a close frame (1001), briefly awaited.
        ctx.close_websockets();
        const core::TimePoint closing_until =
            std::min(until, clock.now() + std::chrono::milliseconds(500));
        while (ctx.websockets_open() && clock.now() < closing_until) {
          t.expires_after(std::chrono::milliseconds(10));
          co_await t.async_wait(kTuple);
        }
        stop_workers();
      },
      // A drain that failed would never stop the server: stop the workers at once instead.
      [this](const std::exception_ptr& e) {
        if (!e) return;
        core::report_task_failure("drain", e, core::task_failures(), "stopping now");
        stop_workers();
      });
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
      ctx.connection_events->with({"accept_error"}).inc();
      pause = std::clamp(pause * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
      backoff.expires_after(pause);
      co_await backoff.async_wait(kTuple);
      continue;
    }
    pause = std::chrono::milliseconds(0);
    if (!make_room(to)) {
      ctx.connection_events->with({"refused"}).inc();
      socket.close(ec);
      continue;
    }
    ctx.open_connections.fetch_add(1);
    socket.set_option(tcp::no_delay(true), ec);
    // One connection: an exception ends it alone, logged and counted.
    asio::co_spawn(to.ioc, serve_http(ctx, admin, to.idle, std::move(socket), admin_listener),
                   core::report_failures("http_session"));
  }
}

bool Server::Impl::make_room(Worker& to) {
  if (ctx.open_connections.load() < ctx.cfg.max_connections) return true;
  Worker* from = to.idle.size() > 0 ? &to : nullptr;
  for (std::size_t i = 0; from == nullptr && i < workers.size(); ++i) {
    if (workers[i]->idle.size() > 0) from = workers[i].get();
  }
  if (from == nullptr) return false;
  asio::post(from->ioc, [from, this] { shed_oldest(*from, ctx); });
  return true;
}

void Server::Impl::shed_oldest(Worker& w, ServerContext& ctx) {
  IdleNode* n = w.idle.oldest();
  if (n == nullptr) return;  // it got a request meanwhile
  w.idle.remove(*n);
  n->shed = true;
  boost::system::error_code ignored;
  n->stream->socket().close(ignored);  // its read ends with an error; the connection closes
  ctx.connection_events->with({"shed"}).inc();
}

}  // namespace ma::server
