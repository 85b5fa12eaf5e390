#include "server/server_context.hpp"

#include <boost/beast/core/string.hpp>
#include <cstdio>
#include <random>

#include "core/random.hpp"
#include "gateway/source_key.hpp"
#include "server/pages.hpp"

namespace ma::server {

namespace beast = boost::beast;
namespace http = beast::http;

ServerContext::ServerContext(App& a, ServerConfig c, core::SlotCounter& flight)
    : app(a),
      cfg(std::move(c)),
      in_flight(flight),
      issuer({.rate = cfg.session_issue_rate, .burst = cfg.session_issue_burst}, 100'000) {}

std::uint64_t ServerContext::add_ws_closer(std::function<void()> close) {
  std::lock_guard lock(ws_mu_);
  const std::uint64_t id = next_ws_++;
  ws_closers_.emplace(id, std::move(close));
  return id;
}

void ServerContext::remove_ws_closer(std::uint64_t id) {
  std::lock_guard lock(ws_mu_);
  ws_closers_.erase(id);
}

void ServerContext::close_websockets() {
  std::lock_guard lock(ws_mu_);
  for (auto& [id, close] : ws_closers_) close();
}

bool ServerContext::websockets_open() {
  std::lock_guard lock(ws_mu_);
  return !ws_closers_.empty();
}

core::Result<std::optional<catalog::User>> ServerContext::user_of(std::string_view token) {
  if (token.empty()) return std::optional<catalog::User>();
  auto id = app.identity().verify_user_token(token, app.clock().wall_now());
  if (!id.ok()) return core::fail(std::move(id).error());
  auto u = app.catalog().user(*id);
  if (!u) return core::fail("invalid_token", "the bearer token names no known user");
  return u;
}

std::string ServerContext::session_of(const Request* req, std::string_view body_session,
                                      const std::string& remote, bool& issued) {
  issued = false;
  const Identity& ids = app.identity();
  if (!body_session.empty() && ids.verify_session(body_session)) return std::string(body_session);
  if (req != nullptr) {
    if (auto c = cookie(*req, kSessionCookie); !c.empty() && ids.verify_session(c))
      return std::string(c);
  }
  if (!issuer.try_issue(gateway::source_key(remote), app.clock().now())) return {};
  issued = true;
  return ids.issue_session();
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
  gateway::ChatInput in{std::move(p.message), std::move(session), std::move(user),
                        std::move(remote), new_trace_id(app.clock().wall_now())};
  gateway::ChatOutcome out =
      co_await app.flow().answer(std::move(in), std::move(on_queued), std::move(on_chunk));
  // Here, at the edge, not in the pipeline: what the cache, the dedupe memory, the logs and
  // the simulator keep stays the site-relative link; each delivery gets this server's form.
  if (!out.refused) rewrite_actions(out.reply.actions, out.reply.lang, cfg.store_base_url);
  co_return out;
}

}  // namespace ma::server
