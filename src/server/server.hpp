#pragma once
// The HTTP/1.1 + WebSocket server (Boost.Beast over Asio coroutines), built like Envoy's
// workers: server.threads workers (one per core by default), each an io_context run by one
// thread; the listener hands each new connection to the next worker, which owns it (one
// coroutine, no strand: one thread) until it closes. Nothing on the request path takes a
// process-wide lock (docs/architecture.md, "Workers").
//
// This file is the listeners, the workers, the accept loops and the drain. The parts:
//   http_session.hpp    one HTTP connection: reading, routing, the chat endpoint
//   ws_session.hpp      one WebSocket connection (GET /v1/ws)
//   admin_api.hpp       the admin API, a route table; its blocking work runs on a small
//                       thread pool the Server owns, off the io threads
//   views.hpp           every response body (JSON errors, replies, the 429 wording, /status)
//   server_context.hpp  what the connections share (counts, drain flag, identity steps)
//
// Routes (docs/api.md): POST /v1/chat, GET /v1/ws, GET /healthz, /readyz, /status,
// /metrics, the admin API under /admin (bearer admin token, compared in constant time), and
// the chat page at /. /status and /metrics need the admin token, except on the admin
// listener (server.admin_port), which serves them to whoever can reach it.
//
// Trust (docs/security.md): users are identified by signed tokens, anonymous visitors by
// sessions the server issued (server/identity.hpp); WebSocket handshakes from other sites'
// pages are refused; at most server.max_connections are open (the oldest idle shed first);
// a WebSocket client that does not read its replies is paused, then cut.
//
// Input rules: bodies over 16 KiB -> 413; invalid JSON, missing fields, invalid UTF-8, an
// empty or over-long message -> 400 with {"error": code, "message": text}. A connection
// waits at most idle_timeout for a request and header_timeout for its headers and body.
// shutdown() stops accepting, answers what is in flight, then stops.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_slot.hpp"
#include "gateway/answer_later.hpp"
#include "server/app.hpp"

namespace ma::server {

class Server final {
 public:
  Server(App& app, ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Returns the bound port (useful with port 0).
  core::Result<std::uint16_t> listen();
  // Runs the io_context on the configured threads; returns after shutdown()/stop().
  void run();
  // Starts run() on background threads (tests).
  void start();
  // Graceful: stop accepting, finish in-flight requests (up to shutdown_grace), then stop.
  // Thread-safe; callable from a signal handler's completion.
  void shutdown();
  // Waits for the background threads started by start().
  void join();

  std::uint16_t port() const { return port_; }
  // The admin listener's port (server.admin_port; 0: none).
  std::uint16_t admin_port() const { return admin_port_; }
  std::size_t in_flight() const { return static_cast<std::size_t>(in_flight_.value()); }
  // Whether `id` is the thread running one of this server's workers (io threads), for tests
  // and assertions: blocking work must never run there. Thread-safe.
  bool is_worker_thread(std::thread::id id) const;
  // The questions left to be answered later, as this server keeps them (tests, metrics).
  gateway::LaterStore& later();

  struct Impl;

 private:
  // Before impl_: the connections that impl_'s workers destroy at the end use it.
  core::SlotCounter in_flight_;  // chat messages being answered
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace ma::server
