#pragma once
// One HTTP/1.1 connection, from accept to close: reads each request (header_timeout for its
// headers and body, idle_timeout between keep-alive requests; bodies over body_limit ->
// 413, headers over 8 KiB -> 431, unreadable HTTP -> 400), routes it -- POST /v1/chat,
// /healthz, /readyz, /status and /metrics (admin token, except on the admin listener), the
// admin API (admin_api.hpp), the chat page, 404 -- and writes the response; a WebSocket
// upgrade for /v1/ws becomes a WebSocket session (ws_session.hpp) on the same socket.
//
// While it waits for a request the connection is listed in its worker's IdleList, so that a
// full server can shed it (the node lives in this coroutine's frame).
//
// Ownership: the coroutine owns the socket; `ctx`, `admin` and `idle` outlive it (Server).
// Thread safety: runs on its worker's thread only, like its socket and `idle`. It counts
// itself in ctx.open_connections, which the caller incremented, until it ends.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/admin_api.hpp"
#include "server/idle_list.hpp"
#include "server/server_context.hpp"

namespace ma::server {

// REQUIRES: ctx.open_connections counts this connection already (decremented at the end).
boost::asio::awaitable<void> serve_http(ServerContext& ctx, AdminApi& admin, IdleList& idle,
                                        boost::asio::ip::tcp::socket socket, bool admin_listener);

}  // namespace ma::server
