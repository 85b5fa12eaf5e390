#include "server/server_context.hpp"

#include <boost/beast/core/string.hpp>
#include <cstdio>
#include <random>

#include "assist/recent_replies.hpp"
#include "core/deadline.hpp"
#include "core/random.hpp"
#include "core/text.hpp"
#include "gateway/source_key.hpp"
#include "server/fleet_later.hpp"
#include "server/later.hpp"
#include "server/pages.hpp"
#include "state/redis/redis_state.hpp"

namespace ma::server {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {
// Fleet mode (Redis): the fleet's store; else this process's memory.
std::unique_ptr<gateway::LaterStore> make_later_store(App& a) {
  gateway::TicketSigner sign = [&ids = a.identity()](std::string_view payload) {
    return ids.sign_later(payload);
  };
  if (auto* redis = dynamic_cast<state::RedisState*>(&a.shared_state())) {
    // The lease outlasts an attempt (the pipeline's deadline), with room for a slow write.
    const core::Duration lease = std::max<core::Duration>(
        std::chrono::seconds(5), 2 * a.pipeline().config().deadline + std::chrono::seconds(1));
    return std::make_unique<FleetLater>(a.config().answer_later, std::move(sign), redis->client(),
                                        redis->config().fleet, redis->server_id(), lease);
  }
  return std::make_unique<gateway::AnswerLater>(a.config().answer_later, std::move(sign));
}
}  // namespace

ServerContext::ServerContext(App& a, ServerConfig c, core::SlotCounter& flight)
    : app(a),
      cfg(std::move(c)),
      in_flight(flight),
      issuer({.rate = cfg.session_issue_rate, .burst = cfg.session_issue_burst}, 100'000),
      later_store(make_later_store(a)),
      later(*later_store) {}

std::string ServerContext::owner_of(const std::optional<catalog::User>& user,
                                    std::string_view session) {
  if (user) return core::str_cat("u:", user->id);
  if (!session.empty()) return core::str_cat("s:", session);
  return {};
}

std::uint64_t ServerContext::add_ws(WsHandle handle) {
  std::lock_guard lock(ws_mu_);
  const std::uint64_t id = next_ws_++;
  if (!handle.owner.empty()) ws_by_owner_.emplace(handle.owner, id);
  ws_.emplace(id, std::move(handle));
  return id;
}

void ServerContext::remove_ws(std::uint64_t id) {
  std::lock_guard lock(ws_mu_);
  auto it = ws_.find(id);
  if (it == ws_.end()) return;
  for (auto [o, end] = ws_by_owner_.equal_range(it->second.owner); o != end; ++o) {
    if (o->second == id) {
      ws_by_owner_.erase(o);
      break;
    }
  }
  ws_.erase(it);
}

void ServerContext::close_websockets() {
  std::lock_guard lock(ws_mu_);
  for (auto& [id, h] : ws_) h.close();
}

bool ServerContext::websockets_open() {
  std::lock_guard lock(ws_mu_);
  return !ws_.empty();
}

void ServerContext::broadcast(const std::string& frame) {
  std::lock_guard lock(ws_mu_);
  for (auto& [id, h] : ws_) h.send(frame);
}

bool ServerContext::deliver_later(const std::string& owner) {
  std::lock_guard lock(ws_mu_);
  bool any = false;
  for (auto [o, end] = ws_by_owner_.equal_range(owner); o != end; ++o) {
    ws_.at(o->second).deliver_later();
    any = true;
  }
  return any;
}

core::Result<std::optional<catalog::User>> ServerContext::user_of(std::string_view token) {
  if (token.empty()) return std::optional<catalog::User>();
  auto id = app.identity().verify_user_token(token, app.clock().wall_now());
  if (!id.ok()) return core::fail(std::move(id).error());
  auto u = app.catalog().user(*id);
  if (!u) return core::fail("invalid_token", "the bearer token names no known user");
  return u;
}

core::Result<std::optional<catalog::User>> ServerContext::user_of(const Request& req, bool query) {
  const UserToken t = user_token(req, query);
  auto u = user_of(t.token);
  if (!u.ok() && t.from_cookie) return std::optional<catalog::User>();
  return u;
}

std::string ServerContext::signed_session(const Request* req, std::string_view body_session) const {
  const Identity& ids = app.identity();
  if (!body_session.empty() && ids.verify_session(body_session)) return std::string(body_session);
  if (req != nullptr) {
    if (auto c = cookie(*req, kSessionCookie); !c.empty() && ids.verify_session(c))
      return std::string(c);
  }
  return {};
}

std::string ServerContext::session_of(const Request* req, std::string_view body_session,
                                      const std::string& remote, bool& issued) {
  issued = false;
  if (std::string s = signed_session(req, body_session); !s.empty()) return s;
  if (!issuer.try_issue(gateway::source_key(remote), app.clock().now())) return {};
  issued = true;
  return app.identity().issue_session();
}

std::string ServerContext::client_of(const Request& req, const std::string& peer) const {
  if (cfg.trusted_proxies.empty()) return peer;
  std::vector<std::string_view> forwarded;
  for (auto [it, end] = req.equal_range("X-Forwarded-For"); it != end; ++it) {
    forwarded.push_back(it->value());
  }
  return cfg.trusted_proxies.client_of(peer, forwarded);
}

bool ServerContext::origin_allowed(const Request& req) const {
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

namespace {
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
}  // namespace

boost::asio::awaitable<gateway::ChatOutcome> ServerContext::answer(
    ParsedChat p, std::optional<catalog::User> user, std::string session, std::string remote,
    admission::QueuedSink on_queued, assist::TierChunkSink on_chunk) {
  // Kept only while a degraded reply could offer to answer it later.
  std::string owner = later.config().enabled ? owner_of(user, session) : std::string();
  std::string question = owner.empty() ? std::string() : p.message;
  gateway::ChatInput in{std::move(p.message), std::move(session), std::move(user),
                        std::move(remote), new_trace_id(app.clock().wall_now())};
  gateway::ChatOutcome out =
      co_await app.flow().answer(std::move(in), std::move(on_queued), std::move(on_chunk));
  // Here, at the edge, not in the pipeline: what the cache, the dedupe memory, the logs and
  // the simulator keep stays the site-relative link; each delivery gets this server's form.
  if (!out.refused) rewrite_actions(out.reply.actions, out.reply.lang, cfg.store_base_url);
  if (!out.refused && out.reply.tier == assist::Tier::kDegraded) {
    if (auto ticket = later.offer(owner, question, app.clock().wall_now())) {
      out.later_ticket = std::move(*ticket);
      offer_later(out.reply);
    }
  }
  co_return out;
}

core::Result<std::size_t> ServerContext::leave_later(const std::string& owner,
                                                     std::string_view ticket) {
  auto held = later.leave(owner, ticket, app.clock().wall_now(), app.clock().now());
  // The A/B comparison counts a degraded reply whose question was left as not abandoned (the
  // owner is the same key as the tracker's user key: u:<id> or s:<session>).
  if (held.ok()) {
    if (assist::AbStats* ab = app.gateway().ab_stats()) ab->note_left_question(owner);
  }
  return held;
}

boost::asio::awaitable<assist::Reply> ServerContext::answer_held(
    const gateway::LaterStore::Held& q) {
  assist::ChatRequest req;
  req.message = q.question;
  if (q.owner.starts_with("u:")) {
    req.user = app.catalog().user(std::string_view(q.owner).substr(2));
  } else if (q.owner.starts_with("s:")) {
    req.session_id = q.owner.substr(2);
  }
  req.trace_id = new_trace_id(app.clock().wall_now());
  req.skip_dedupe = true;
  assist::Reply reply;
  const auto deadline = core::Deadline::after(app.clock(), app.pipeline().config().deadline);
  co_await app.pipeline().handle_into(req, reply, {}, deadline);
  app.observer().on_reply(reply, app.observer().logs() ? q.question : std::string_view(), q.owner,
                          assist::AdmissionNote{}, "/v1/later");
  // The answer takes feedback like any reply (its owner is the same key as a chat's user key).
  if (!reply.degraded) {
    if (assist::RecentReplies* recent = app.gateway().recent_replies()) {
      recent->remember(reply.trace_id, q.owner, reply.degradation_version, reply.degraded);
    }
  }
  rewrite_actions(reply.actions, reply.lang, cfg.store_base_url);
  co_return reply;
}

}  // namespace ma::server
