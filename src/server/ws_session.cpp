#include "server/ws_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <deque>
#include <memory>

#include "core/supervised.hpp"
#include "core/text.hpp"
#include "resilience/token_bucket.hpp"
#include "server/later.hpp"
#include "server/views.hpp"

namespace ma::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The connection's state, shared by its reader, writer, idle watch and message coroutines.
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

// One accepted message: admission, the pipeline, its frames (queued, chunks), then one final
// frame -- an error (over the sender's own limit) or the reply.
asio::awaitable<void> answer_message(ServerContext& ctx, std::shared_ptr<WsConn> c, ParsedChat p,
                                     std::optional<catalog::User> u, std::string session,
                                     std::string remote) {
  ServerContext::InFlight guard(ctx.in_flight);
  // However it ends (an exception too), this message no longer counts against the
  // connection's limit or keeps it from going idle.
  struct Done {
    WsConn& c;
    ~Done() { --c.in_flight; }
  } done{*c};
  const std::string rid = p.request_id;
  auto on_queued = [c, rid](std::size_t position, core::Duration eta) {
    c->send(ws_queued(rid, position, eta));
  };
  auto on_chunk = [c, rid](const assist::StreamChunk& chunk) { c->send(ws_chunk(rid, chunk)); };
  const bool japanese = core::looks_japanese(p.message);
  // One final message per accepted request: an error (user over their own limit), the
  // high-demand reply (waited too long), or the pipeline's reply.
  gateway::ChatOutcome a =
      co_await ctx.answer(std::move(p), std::move(u), session, remote, on_queued, on_chunk);
  if (a.refused) {
    auto body =
        json::parse(rate_limited_body(*a.refused, japanese, ctx.cfg.store_base_url)).as_object();
    body["type"] = "error";
    if (!rid.empty()) body["request_id"] = rid;
    c->send(json::serialize(body));
  } else {
    std::string frame = reply_json(a.reply, ctx.app.pipeline().status(), "reply", rid);
    add_later_field(frame, a.later_ticket, ctx.later.ticket_ttl_s());
    c->send(std::move(frame));
  }
}

// Hands the owner's answers waiting here to the connection's outbox (each answer is taken
// once, by whichever connection asks first). On the connection's worker.
void deliver_answers(ServerContext& ctx, WsConn& c, const std::string& owner) {
  if (owner.empty() || c.closed || c.closing) return;  // left for the next connection
  for (std::string& frame : ctx.later.take(owner)) c.send(std::move(frame));
}

}  // namespace

asio::awaitable<void> serve_websocket(ServerContext& ctx, beast::tcp_stream stream, Request req,
                                      std::string remote) {
  const ServerConfig& cfg = ctx.cfg;
  App& app = ctx.app;
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
  if (!ctx.origin_allowed(req)) {
    ctx.ws_closes->with({"origin"}).inc();
    co_await refuse(http::status::forbidden, "origin_not_allowed",
                    "this page may not open the chat's WebSocket");
    co_return;
  }
  // Browsers cannot set headers on a WebSocket: ?token=... and the ma_user cookie (the chat
  // page's sign-in) are accepted too.
  auto user = ctx.user_of(req, true);
  if (!user.ok()) {
    co_await refuse(http::status::unauthorized, user.error().code, user.error().message);
    co_return;
  }
  bool issued = false;
  const std::string conn_session = *user ? std::string() : ctx.session_of(&req, {}, remote, issued);

  // A fixed kernel send buffer: left to autotuning it grows to megabytes, and a client that
  // does not read would hold that much kernel memory before the outbox bound is ever reached.
  boost::system::error_code sndbuf_ec;
  stream.socket().set_option(asio::socket_base::send_buffer_size(64 * 1024), sndbuf_ec);
  auto conn = std::make_shared<WsConn>(std::move(stream), cfg, app.clock(), *ctx.ws_closes);
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
  // The connection's coroutines: an exception ends this connection alone, logged and counted.
  asio::co_spawn(conn->ws.get_executor(), conn->writer(), core::report_failures("ws_writer"));
  asio::co_spawn(conn->ws.get_executor(), conn->idle_watch(),
                 core::report_failures("ws_idle_watch"));
  // Reachable by the rest of the server (the drain, the status push, answers delivered),
  // each request posted to this connection's worker.
  const std::string owner = ServerContext::owner_of(*user, conn_session);
  const std::weak_ptr<WsConn> weak = conn;
  const std::uint64_t ws_id = ctx.add_ws({
      .owner = owner,
      .close =
          [weak] {
            if (auto c = weak.lock()) {
              asio::post(c->ws.get_executor(), [c] {
                c->close_after_flush(websocket::close_reason(websocket::close_code::going_away,
                                                             "server restarting"));
              });
            }
          },
      .send =
          [weak](std::string frame) {
            if (auto c = weak.lock()) {
              asio::post(c->ws.get_executor(),
                         [c, f = std::move(frame)]() mutable { c->send(std::move(f)); });
            }
          },
      .deliver_later =
          [weak, &ctx, owner] {
            if (auto c = weak.lock()) {
              asio::post(c->ws.get_executor(),
                         [c, &ctx, owner] { deliver_answers(ctx, *c, owner); });
            }
          },
  });
  struct Unregister {
    ServerContext& ctx;
    std::uint64_t id;
    ~Unregister() { ctx.remove_ws(id); }
  } unregister{ctx, ws_id};
  // First the service status (then again whenever it changes: later.hpp), then the answers
  // to questions this visitor left that are ready.
  conn->send(ws_status(public_status(app.pipeline().status())));
  deliver_answers(ctx, *conn, owner);
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
      ctx.bad_requests->inc();
      ctx.ws_closes->with({"too_big"}).inc();
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
    auto parsed = parse_ws_message(body, cfg.max_message_chars);
    if (!parsed.ok()) {
      ctx.bad_requests->inc();
      conn->send(ws_error(parsed.error().code, parsed.error().message, ""));
      // Each bad message is answered; a stream of them (a broken or hostile client) is not
      // served forever: 20 at once, then 2 a second, then the connection is closed (1008).
      if (invalid.try_acquire(app.clock().now()) != resilience::BucketVerdict::kAllowed) {
        ctx.ws_closes->with({"invalid_flood"}).inc();
        conn->close_after_flush(websocket::close_reason(websocket::close_code::policy_error,
                                                        "too many invalid messages"));
        break;
      }
      continue;
    }
    // A session id in the message counts only when the server signed it.
    auto session_of = [&](const std::string& sent) {
      return !*user && !sent.empty() && app.identity().verify_session(sent) ? sent : conn_session;
    };
    const bool later = parsed->action == WsMessage::Action::kAnswerLater;
    ParsedChat& chat = parsed->chat;
    if (ctx.draining.load()) {
      // A question left here now would be lost with this server's memory.
      conn->send(ws_error("shutting_down", "this server is restarting",
                          later ? parsed->later.request_id : chat.request_id));
      continue;
    }
    if (later) {
      const ParsedLater& l = parsed->later;
      auto held =
          ctx.leave_later(ServerContext::owner_of(*user, session_of(l.session_id)), l.ticket);
      conn->send(held.ok() ? ws_later_accepted(l.request_id, *held)
                           : ws_later_error(held.error(), l.request_id));
      // A refused leave (a forged, foreign or spent ticket, a full store) counts as an invalid
      // message: a client repeating them is closed like any flood of bad messages (in fleet
      // mode each one costs a Redis call).
      if (!held.ok() &&
          invalid.try_acquire(app.clock().now()) != resilience::BucketVerdict::kAllowed) {
        ctx.ws_closes->with({"invalid_flood"}).inc();
        conn->close_after_flush(websocket::close_reason(websocket::close_code::policy_error,
                                                        "too many invalid messages"));
        break;
      }
      continue;
    }
    if (conn->in_flight >= 8) {
      conn->send(ws_error("too_many_in_flight",
                          "at most 8 messages may wait for a reply on one connection",
                          chat.request_id));
      continue;
    }
    std::string session = session_of(chat.session_id);
    ++conn->in_flight;
    asio::co_spawn(conn->ws.get_executor(),
                   answer_message(ctx, conn, std::move(chat), *user, session, remote),
                   core::report_failures("ws_message"));
  }
  if (!conn->closing) {
    conn->closed = true;
    conn->wake.cancel();
    conn->idle.cancel();
  }
}

}  // namespace ma::server
