#pragma once
// What every connection of one Server shares: the App, the server's configuration, the
// drain flag, the counts (open connections, chat messages in flight), the session issuer,
// the connection metrics, the open WebSocket connections' closers, and the steps both
// sessions take for a message (who is asking, which session, admission -> pipeline ->
// observer).
//
// Ownership: owned by Server (server.cpp), which outlives every connection; the sessions
// (http_session.hpp, ws_session.hpp) and the admin API hold references.
// Thread safety: every member may be used from any worker thread. `cfg`, `index_html`, `pages_css`,
// `ops` are read-only once the server listens; the counts and the flag are atomic; the issuer
// has its own lock; the WebSocket registry is under `ws_mu` (taken per connection open and
// close, and at the drain: not per message).

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/thread_slot.hpp"
#include "gateway/chat_flow.hpp"
#include "server/app.hpp"
#include "server/chat_request.hpp"
#include "server/http_fields.hpp"
#include "server/identity.hpp"
#include "server/ops_page.hpp"

namespace ma::server {

class ServerContext final {
 public:
  // REQUIRES: `app` and `in_flight` outlive this.
  ServerContext(App& app, ServerConfig cfg, core::SlotCounter& in_flight);
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  App& app;
  ServerConfig cfg;              // server.threads and max_connections resolved
  core::SlotCounter& in_flight;  // chat messages being answered
  std::atomic<bool> draining{false};
  // Open connections (HTTP and WebSocket): at most cfg.max_connections.
  std::atomic<std::size_t> open_connections{0};
  SessionIssuer issuer;
  std::string index_html;  // the chat page; empty when not installed
  std::string pages_css;   // the pages' stylesheet (server/pages.hpp); empty when not installed
  OpsAssets ops;           // the operations dashboard (server/ops_page.hpp)

  observe::Counter* bad_requests = nullptr;
  observe::Family<observe::Counter>* connection_events = nullptr;  // {event}
  observe::Family<observe::Counter>* ws_closes = nullptr;          // {reason}

  // Open WebSocket connections: how to ask each to close when the drain ends. Returns the
  // id to unregister with.
  std::uint64_t add_ws_closer(std::function<void()> close);
  void remove_ws_closer(std::uint64_t id);
  void close_websockets();
  bool websockets_open();

  // The signed-in user a bearer token names; an error for a token that is present but not
  // valid (bad signature, expired, unknown user).
  core::Result<std::optional<catalog::User>> user_of(std::string_view token);
  // The anonymous session: the cookie's or the body's session id when the server signed it;
  // else a new one when this source may have one (`issued` set); else empty.
  std::string session_of(const Request* req, std::string_view body_session,
                         const std::string& remote, bool& issued);
  // The client's address: `peer`, or what trusted proxies say in X-Forwarded-For.
  std::string client_of(const Request& req, const std::string& peer) const;
  // A WebSocket handshake from a page of another site is refused (403).
  bool origin_allowed(const Request& req) const;
  // Admission, then the pipeline, then the observer: the path every chat message takes.
  // The reply's action links come back as a browser should follow them (pages.hpp
  // action_link: the reply's language, cfg.store_base_url).
  boost::asio::awaitable<gateway::ChatOutcome> answer(ParsedChat p,
                                                      std::optional<catalog::User> user,
                                                      std::string session, std::string remote,
                                                      admission::QueuedSink on_queued,
                                                      assist::TierChunkSink on_chunk);

  // Counts one chat message in flight for its scope.
  struct InFlight {
    explicit InFlight(core::SlotCounter& c) : c_(c) { c_.add(1); }
    ~InFlight() { c_.add(-1); }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
    core::SlotCounter& c_;
  };

 private:
  std::mutex ws_mu_;
  std::map<std::uint64_t, std::function<void()>> ws_closers_;
  std::uint64_t next_ws_ = 0;
};

}  // namespace ma::server
