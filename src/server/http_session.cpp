#include "server/http_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>

#include "core/json_util.hpp"
#include "core/text.hpp"
#include "server/later.hpp"
#include "server/ops_page.hpp"
#include "server/pages.hpp"
#include "server/views.hpp"
#include "server/ws_session.hpp"

namespace ma::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// One open connection, counted for its whole life.
struct Open {
  explicit Open(std::atomic<std::size_t>& c) : c_(c) {}
  ~Open() { c_.fetch_sub(1); }
  std::atomic<std::size_t>& c_;
};

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

asio::awaitable<void> refuse_body(ServerContext& ctx, beast::tcp_stream& stream) {
  ctx.bad_requests->inc();
  auto res = error_response(http::status::payload_too_large, "body_too_large",
                            "the body exceeds " + std::to_string(ctx.cfg.body_limit) + " bytes");
  res.keep_alive(false);
  co_await http::async_write(stream, res, kTuple);
  co_await lingering_close(stream);
}

asio::awaitable<Response> chat(ServerContext& ctx, Request& req, const std::string& remote) {
  if (ctx.draining.load()) {
    co_return error_response(http::status::service_unavailable, "shutting_down",
                             "this server is restarting; your client should connect to another");
  }
  auto user = ctx.user_of(req, false);
  if (!user.ok()) {
    auto res = error_response(http::status::unauthorized, user.error().code, user.error().message);
    res.set(http::field::www_authenticate, "Bearer");
    co_return res;
  }
  auto parsed = parse_chat(req.body(), ctx.cfg.max_message_chars, false);
  if (!parsed.ok()) {
    ctx.bad_requests->inc();
    co_return error_response(http::status::bad_request, parsed.error().code,
                             parsed.error().message);
  }
  ServerContext::InFlight guard(ctx.in_flight);
  const bool japanese = core::looks_japanese(parsed->message);
  bool issued = false;
  const std::string session =
      *user ? std::string() : ctx.session_of(&req, parsed->session_id, remote, issued);
  gateway::ChatOutcome a =
      co_await ctx.answer(std::move(parsed).value(), std::move(*user), session, remote, {}, {});
  Response res;
  if (a.refused) {
    res = json_response(http::status::too_many_requests,
                        rate_limited_body(*a.refused, japanese, ctx.cfg.store_base_url));
    res.set(http::field::retry_after, std::to_string(ceil_seconds(a.refused->retry_after)));
  } else {
    std::string body = reply_json(a.reply, ctx.app.pipeline().status(), "", "", session);
    add_later_field(body, a.later_ticket, ctx.later.ticket_ttl_s());
    res = json_response(http::status::ok, std::move(body));
    res.set("X-Trace-Id", a.reply.trace_id);
    // Which tier answered and which model wrote the text (absent below the models), for
    // clients and proxies that do not read the body.
    res.set("X-MangaAssist-Tier", assist::to_string(a.reply.tier));
    if (!a.reply.model.empty()) res.set("X-MangaAssist-Model", a.reply.model);
  }
  if (issued) res.set(http::field::set_cookie, session_cookie(session));
  co_return res;
}

// POST /v1/feedback: one click on a reply. Who is asking is established as for /v1/chat (the
// bearer user token, else the signed session of the body or the cookie, else the source
// address), but no session is issued: a caller without one has no reply to rate.
Response feedback(ServerContext& ctx, const Request& req, const std::string& remote) {
  auto user = ctx.user_of(req, false);
  if (!user.ok()) {
    auto res = error_response(http::status::unauthorized, user.error().code, user.error().message);
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  auto parsed = parse_feedback(req.body());
  if (!parsed.ok()) {
    ctx.bad_requests->inc();
    return error_response(http::status::bad_request, parsed.error().code, parsed.error().message);
  }
  const std::string session = *user ? std::string() : ctx.signed_session(&req, parsed->session_id);
  const std::string who = gateway::user_key(*user, session, remote);
  if (!ctx.app.gateway().record_feedback(parsed->trace_id, who,
                                         {parsed->helpful, parsed->understood})) {
    // The same answer for a trace that is unknown, expired or another user's: no oracle.
    return error_response(http::status::not_found, "unknown_trace",
                          "this trace id is not one of your recent replies");
  }
  return json_response(http::status::accepted, R"({"recorded":true})");
}

// POST /v1/signin {"token": "..."}: the chat page, opened with a user token in its URL, hands
// it over once and forgets it; the server keeps it in the HttpOnly ma_user cookie, which the
// WebSocket, the pages and the API then read (http_fields.hpp user_token). POST /v1/signout
// removes it.
Response signin(ServerContext& ctx, const Request& req) {
  auto v = core::parse_json(req.body());
  const boost::json::value* t =
      v.ok() && v->is_object() ? v->get_object().if_contains("token") : nullptr;
  if (t == nullptr || !t->is_string() || t->get_string().empty() || t->get_string().size() > 4096) {
    ctx.bad_requests->inc();
    return error_response(http::status::bad_request, "invalid_field",
                          "the body must be {\"token\": \"<your user token>\"}");
  }
  const std::string token(t->get_string());
  // A page opened with someone else's token in its link (a forged link) does not silently
  // replace the visitor's own sign-in: they sign out first.
  if (auto current = ctx.user_of(req, false); current.ok() && *current) {
    auto named = ctx.user_of(token);
    if (!named.ok() || !*named || (*named)->id != (*current)->id) {
      boost::json::object body{{"error", "signed_in_as_another_user"},
                               {"message", "you are signed in as another user: sign out first"},
                               {"user_id", (*current)->id}};
      return json_response(http::status::conflict, boost::json::serialize(body));
    }
  }
  auto user = ctx.user_of(token);
  if (!user.ok() || !*user) {
    auto res =
        error_response(http::status::unauthorized, user.ok() ? "invalid_token" : user.error().code,
                       user.ok() ? "the token names no user" : user.error().message);
    res.set(http::field::set_cookie, clear_user_cookie());
    return res;
  }
  boost::json::object body{{"user_id", (*user)->id}, {"name", (*user)->name}};
  auto res = json_response(http::status::ok, boost::json::serialize(body));
  auto origin = req.find(http::field::origin);
  const bool https =
      origin != req.end() && beast::iequals(origin->value().substr(0, 8), "https://");
  res.set(http::field::set_cookie, user_cookie(token, https));
  return res;
}

asio::awaitable<Response> handle(ServerContext& ctx, AdminApi& admin, Request& req,
                                 const std::string& remote, bool admin_listener) {
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const auto method = req.method();
  // A POST a cookie may authenticate (ma_user, ma_session) from another site's page -- a
  // sibling subdomain is "same site" to SameSite=Lax -- is refused: only this server's pages
  // and server.allowed_origins may send one. Clients that are not browsers send no Origin.
  if (method == http::verb::post && path.starts_with("/v1/") && !ctx.origin_allowed(req)) {
    co_return error_response(http::status::forbidden, "origin_not_allowed",
                             "this site's pages only");
  }
  if (path == "/v1/chat") {
    if (method != http::verb::post) {
      co_return error_response(http::status::method_not_allowed, "method_not_allowed", "use POST");
    }
    co_return co_await chat(ctx, req, remote);
  }
  if (path == "/v1/later" || path == "/v1/later/answers") co_return http_route_later(ctx, req);
  if (path == "/v1/feedback") {
    if (method != http::verb::post) {
      co_return error_response(http::status::method_not_allowed, "method_not_allowed", "use POST");
    }
    co_return feedback(ctx, req, remote);
  }
  if (path == "/v1/signin" || path == "/v1/signout") {
    if (method != http::verb::post) {
      co_return error_response(http::status::method_not_allowed, "method_not_allowed", "use POST");
    }
    if (path == "/v1/signin") co_return signin(ctx, req);
    auto res = json_response(http::status::ok, R"({"signed_out":true})");
    res.set(http::field::set_cookie, clear_user_cookie());
    co_return res;
  }
  if (path == "/healthz") co_return json_response(http::status::ok, R"({"status":"ok"})");
  if (path == "/readyz") {
    if (ctx.draining.load()) {
      co_return json_response(http::status::service_unavailable, R"({"status":"draining"})");
    }
    co_return json_response(http::status::ok, R"({"status":"ready"})");
  }
  // A browser following a reply's "Service status" link: the public page (pages.hpp).
  if (path == "/status" && method == http::verb::get && wants_status_page(req, admin_listener)) {
    if (auto page = page_response(ctx, req, path)) co_return std::move(*page);
  }
  if (path == "/status" || path == "/metrics") {
    // Flags, limits, the fleet and every counter: for operators and Prometheus only.
    if (!admin_listener) {
      if (auto refused = admin.refusal(req)) co_return std::move(*refused);
    }
    co_return path == "/status"
        ? status_response(ctx.app, static_cast<std::size_t>(ctx.in_flight.value()))
        : metrics_response(ctx.app);
  }
  if (path.starts_with("/admin/")) co_return co_await admin.handle(req, path);
  if (path == "/" || path == "/index.html")
    co_return chat_page_response(ctx.index_html, req.version());
  if (auto ops = ops_response(ctx.ops, path, method)) co_return std::move(*ops);
  if (method == http::verb::get) {
    if (path != "/status") {
      if (auto page = page_response(ctx, req, path)) co_return std::move(*page);
    }
  }
  if (path == "/v1/ws") {
    co_return error_response(http::status::upgrade_required, "upgrade_required",
                             "/v1/ws is a WebSocket endpoint");
  }
  // The path is not echoed: an error body never repeats what the client sent.
  co_return error_response(http::status::not_found, "not_found", "there is no such page");
}

}  // namespace

asio::awaitable<void> serve_http(ServerContext& ctx, AdminApi& admin, IdleList& idle_list,
                                 tcp::socket socket, bool admin_listener) {
  Open open(ctx.open_connections);
  const ServerConfig& cfg = ctx.cfg;
  boost::system::error_code rec;
  const auto ep = socket.remote_endpoint(rec);
  const std::string remote = rec ? std::string() : ep.address().to_string();
  beast::tcp_stream conn(std::move(socket));
  beast::tcp_stream* stream = &conn;
  IdleNode idle{.stream = stream};
  IdleScope unlink_at_end{idle_list, idle};
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
    idle_list.push(idle);
    auto [ec, n] = co_await http::async_read_header(*stream, buffer, parser, kTuple);
    idle_list.remove(idle);
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
      co_await refuse_body(ctx, *stream);
      co_return;
    }
    if (ec) break;  // closed, timed out, shed or garbage: nothing to answer
    const std::string_view target = parser.get().target();
    if (websocket::is_upgrade(parser.get()) && target.substr(0, target.find('?')) == "/v1/ws") {
      stream->expires_never();
      std::string client = ctx.client_of(parser.get(), remote);
      co_await serve_websocket(ctx, std::move(*stream), parser.release(), std::move(client));
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
      co_await refuse_body(ctx, *stream);
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
    const std::string client = ctx.client_of(req, remote);
    Response res = co_await handle(ctx, admin, req, client, admin_listener);
    res.version(req.version());
    res.keep_alive(req.keep_alive() && !ctx.draining.load());
    res.set("X-Content-Type-Options", "nosniff");
    stream->expires_after(cfg.idle_timeout);
    auto [ec3, n3] = co_await http::async_write(*stream, res, kTuple);
    if (ec3 || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace ma::server
