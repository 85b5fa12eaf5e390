#pragma once
// What every connection of one Server shares: the App, the server's configuration, the
// drain flag, the counts (open connections, chat messages in flight), the session issuer,
// the connection metrics, the open WebSocket connections (each with its owner, to close it,
// post it a frame or hand it its owner's answers), the questions left to be answered later,
// and the steps both sessions take for a message (who is asking, which session, admission ->
// pipeline -> observer).
//
// Ownership: owned by Server (server.cpp), which outlives every connection; the sessions
// (http_session.hpp, ws_session.hpp) and the admin API hold references.
// Thread safety: every member may be used from any worker thread. `cfg`, `index_html`, `pages_css`,
// `ops` are read-only once the server listens; the counts and the flag are atomic; the issuer
// has its own lock; the WebSocket registry is under `ws_mu` (taken per connection open and
// close, at the drain, per status change and per answer delivered: not per message);
// `later` has its own lock.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/thread_slot.hpp"
#include "gateway/answer_later.hpp"
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

  // The questions users left on a degraded reply, and the answers waiting for them
  // (gateway/answer_later.hpp; answered by server/later.hpp's loop): in this process's memory,
  // or in fleet mode in Redis, shared by the fleet (server/fleet_later.hpp).
  std::unique_ptr<gateway::LaterStore> later_store;
  gateway::LaterStore& later;

  // Who a left question belongs to: "u:<user id>" for a signed-in user, else "s:<session>"
  // for a server-issued session, else "" (nobody: nothing can be left).
  static std::string owner_of(const std::optional<catalog::User>& user, std::string_view session);

  // An open WebSocket connection, as the rest of the server may reach it. Each function posts
  // to the connection's worker and does nothing once the connection is gone.
  struct WsHandle {
    std::string owner;                      // owner_of(...) of the connection; may be ""
    std::function<void()> close;            // close after what is queued (the drain)
    std::function<void(std::string)> send;  // queue a frame
    std::function<void()> deliver_later;    // queue the owner's answers (later.take(owner))
  };
  // Registers an open connection; returns the id to unregister with.
  std::uint64_t add_ws(WsHandle handle);
  void remove_ws(std::uint64_t id);
  void close_websockets();
  bool websockets_open();
  // Queues `frame` on every open WebSocket connection.
  void broadcast(const std::string& frame);
  // Asks the owner's open connections on this server to take its answers (the first to run
  // takes them all; none open: they wait for the next). False when none is open here.
  bool deliver_later(const std::string& owner);

  // The signed-in user a bearer token names; an error for a token that is present but not
  // valid (bad signature, expired, unknown user).
  core::Result<std::optional<catalog::User>> user_of(std::string_view token);
  // The signed-in user of a request (http_fields.hpp user_token: bearer, `?token=` when
  // `query`, the ma_user cookie). An invalid bearer or query token is an error; a cookie that
  // no longer verifies (expired, another secret) signs nobody in: the visitor is anonymous.
  core::Result<std::optional<catalog::User>> user_of(const Request& req, bool query);
  // The anonymous session: the cookie's or the body's session id when the server signed it;
  // else a new one when this source may have one (`issued` set); else empty.
  // The anonymous session a request names, issuing none: the body's session id, else the
  // ma_session cookie, whichever the server signed; empty when neither.
  std::string signed_session(const Request* req, std::string_view body_session) const;
  std::string session_of(const Request* req, std::string_view body_session,
                         const std::string& remote, bool& issued);
  // The client's address: `peer`, or what trusted proxies say in X-Forwarded-For.
  std::string client_of(const Request& req, const std::string& peer) const;
  // A WebSocket handshake from a page of another site is refused (403).
  bool origin_allowed(const Request& req) const;
  // Admission, then the pipeline, then the observer: the path every chat message takes.
  // The reply's action links come back as a browser should follow them (pages.hpp
  // action_link: the reply's language, cfg.store_base_url). A degraded reply that the asker
  // may leave to be answered later gets its ticket (ChatOutcome::later_ticket) and the
  // sentence that says so (later.hpp), here at the edge: what the pipeline, its dedupe
  // memory, the logs and the simulator keep is unchanged.
  boost::asio::awaitable<gateway::ChatOutcome> answer(ParsedChat p,
                                                      std::optional<catalog::User> user,
                                                      std::string session, std::string remote,
                                                      admission::QueuedSink on_queued,
                                                      assist::TierChunkSink on_chunk);

  // Leaves the question a degraded reply's ticket carries (WebSocket answerLater, POST
  // /v1/later): how many of the owner's questions wait now, or later_invalid, later_full,
  // later_disabled.
  core::Result<std::size_t> leave_later(const std::string& owner, std::string_view ticket);

  // One attempt at a left question: the pipeline under its deadline, as the question's owner
  // (their orders, their conversation), without admission (a background retry must not
  // spend the user's own rate limit) and without the dedupe memory (which would give the
  // degraded reply back); observed like a message (path "/v1/later"). Links as answer()'s.
  boost::asio::awaitable<assist::Reply> answer_held(const gateway::LaterStore::Held& q);

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
  std::map<std::uint64_t, WsHandle> ws_;
  std::unordered_multimap<std::string, std::uint64_t> ws_by_owner_;  // owners that have one
  std::uint64_t next_ws_ = 0;
};

}  // namespace ma::server
