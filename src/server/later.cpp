#include "server/later.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "core/json_util.hpp"
#include "core/text.hpp"
#include "server/pages.hpp"
#include "server/server_context.hpp"
#include "server/views.hpp"

namespace ma::server {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kStatusEvery = std::chrono::milliseconds(250);
// How often the answering loop looks for a question while none waits.
constexpr auto kIdlePoll = std::chrono::milliseconds(250);
}  // namespace

std::string_view later_sentence(fm::Language lang) {
  return lang == fm::Language::kJa
             ? "ご質問を残していただければ、復旧しだいこちらでお答えします。"
             : "Leave your question and we'll answer it here as soon as we're back.";
}

void offer_later(assist::Reply& r) {
  if (!r.text.empty() && r.lang != fm::Language::kJa) r.text += ' ';
  r.text += later_sentence(r.lang);
}

void add_later_field(std::string& body, std::string_view ticket, std::int64_t expires_in_s) {
  if (ticket.empty() || body.empty() || body.back() != '}') return;
  body.pop_back();
  body += body.size() > 1 ? ",\"later\":{\"ticket\":" : "\"later\":{\"ticket\":";
  core::append_json_string(body, ticket);
  core::str_append(body, ",\"expires_in_s\":", core::Dec(expires_in_s), "}}");
}

std::string later_answer_frame(std::string_view question, const assist::Reply& r,
                               const assist::ServiceStatus& st) {
  // The reply frame's fields after "type" and "question": reply_json's object, opened up.
  const std::string reply = reply_json(r, st, "", "");
  std::string o = "{\"type\":\"later_answer\",\"question\":";
  core::append_json_string(o, question);
  o += ',';
  o.append(reply, 1);
  return o;
}

std::string ws_later_accepted(std::string_view request_id, std::size_t held) {
  json::object o;
  o["type"] = "later_accepted";
  if (!request_id.empty()) o["request_id"] = request_id;
  o["held"] = held;
  return json::serialize(o);
}

std::string ws_later_error(const core::Error& e, std::string_view request_id) {
  json::object o;
  o["type"] = "error";
  o["error"] = e.code;
  o["code"] = e.code;
  o["message"] = e.message;
  if (!request_id.empty()) o["request_id"] = request_id;
  return json::serialize(o);
}

PublicStatus public_status(const assist::ServiceStatus& st) {
  PublicStatus p{st.state, std::nullopt};
  if (st.eta) p.eta_s = ceil_seconds(*st.eta);
  return p;
}

std::string ws_status(const PublicStatus& st) {
  json::object o;
  o["type"] = "status";
  o["state"] = st.state;
  if (st.eta_s) {
    o["eta_s"] = *st.eta_s;
  } else {
    o["eta_s"] = nullptr;
  }
  o["note"] = public_status_words(st.state, fm::Language::kEn).note;
  o["note_ja"] = public_status_words(st.state, fm::Language::kJa).note;
  return json::serialize(o);
}

bool StatusWatch::changed(const PublicStatus& now) {
  if (last_ && *last_ == now) return false;
  last_ = now;
  return true;
}

asio::awaitable<void> run_later_answers(ServerContext& ctx) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  gateway::LaterStore& later = ctx.later;
  core::Clock& clock = ctx.app.clock();
  for (;;) {
    auto wait = std::chrono::duration_cast<asio::steady_timer::duration>(kIdlePoll);
    if (auto q = later.next(clock.now())) {
      // Settled on every path, an exception or a cancellation too: the question stays held.
      struct Settle {
        gateway::LaterStore& later;
        std::uint64_t id;
        bool done = false;
        ~Settle() {
          if (!done) later.not_answered(id);
        }
      } settle{later, q->id};
      assist::Reply reply = co_await ctx.answer_held(*q);
      if (!reply.degraded) {
        // A model wrote it: kept for the owner, then handed to their open connections.
        settle.done = true;
        if (later.answered(q->id,
                           later_answer_frame(q->question, reply, ctx.app.pipeline().status()),
                           clock.now())) {
          ctx.deliver_later(q->owner);
        }
        continue;  // the next question at once: the models are answering
      }
      // Still degraded: this attempt was the traffic the breakers need to close again.
      wait =
          std::chrono::duration_cast<asio::steady_timer::duration>(later.config().retry_interval);
    }
    timer.expires_after(wait);
    co_await timer.async_wait(kTuple);
  }
}

asio::awaitable<void> run_status_push(ServerContext& ctx) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  StatusWatch watch;
  for (;;) {
    const PublicStatus now = public_status(ctx.app.pipeline().status());
    if (watch.changed(now)) ctx.broadcast(ws_status(now));
    timer.expires_after(kStatusEvery);
    co_await timer.async_wait(kTuple);
  }
}

Response http_route_later(ServerContext& ctx, const Request& req) {
  // POST /v1/later leaves a question; POST /v1/later/answers takes the answers. Taking changes
  // state, so it is not a GET: a link or a top-level navigation from another site (which
  // carries the SameSite=Lax cookie) cannot consume a visitor's answers.
  const std::string_view target = req.target();
  const bool take = target.substr(0, target.find('?')) == "/v1/later/answers";
  if (req.method() != http::verb::post) {
    return error_response(http::status::method_not_allowed, "method_not_allowed",
                          take ? "use POST to take your answers"
                               : "use POST (and POST /v1/later/answers to take answers)");
  }
  const bool post = !take;
  auto user = ctx.user_of(req, false);
  if (!user.ok()) {
    auto res = error_response(http::status::unauthorized, user.error().code, user.error().message);
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  std::string ticket;
  std::string session;
  if (take) {
    // An optional {"session_id": "..."}; no body: the cookie or the token says who.
    if (!req.body().empty()) {
      auto v = core::parse_json(req.body());
      if (!v.ok() || !v->is_object()) {
        ctx.bad_requests->inc();
        return error_response(http::status::bad_request, "invalid_json",
                              "the body must be empty or a JSON object");
      }
      if (auto s = core::get_string(*v, "session_id")) session = *s;
    }
  } else {
    auto v = core::parse_json(req.body());
    if (!v.ok() || !v->is_object()) {
      ctx.bad_requests->inc();
      return error_response(http::status::bad_request, "invalid_json",
                            "the body must be a JSON object");
    }
    const auto t = core::get_string(*v, "ticket");
    if (!t) {
      ctx.bad_requests->inc();
      return error_response(http::status::bad_request, "missing_field",
                            "\"ticket\" is required (a string)");
    }
    ticket = *t;
    if (auto s = core::get_string(*v, "session_id")) session = *s;
  }
  // Only a session the server signed names anyone (as for /v1/chat); none is issued here.
  const std::string owner = ServerContext::owner_of(*user, ctx.signed_session(&req, session));
  if (!post) {
    std::string body = "{\"answers\":[";
    if (!owner.empty()) {
      const auto answers = ctx.later.take(owner);
      for (std::size_t i = 0; i < answers.size(); ++i) {
        if (i > 0) body += ',';
        body += answers[i];
      }
    }
    body += "]}";
    return json_response(http::status::ok, std::move(body));
  }
  if (ctx.draining.load()) {
    // A question left here now would be lost with this server's memory.
    return error_response(http::status::service_unavailable, "shutting_down",
                          "this server is restarting; your client should connect to another");
  }
  auto held = ctx.leave_later(owner, ticket);
  if (!held.ok()) {
    const std::string& code = held.error().code;
    const auto status = code == gateway::kLaterFull          ? http::status::conflict
                        : code == gateway::kLaterDisabled    ? http::status::forbidden
                        : code == gateway::kLaterUnavailable ? http::status::service_unavailable
                                                             : http::status::bad_request;
    return error_response(status, code, held.error().message);
  }
  return json_response(http::status::accepted,
                       core::str_cat("{\"held\":", core::Dec(static_cast<long long>(*held)), "}"));
}

}  // namespace ma::server
