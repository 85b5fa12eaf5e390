#pragma once
// One WebSocket connection (GET /v1/ws), from the upgrade request to close.
//
// The handshake is refused with a plain HTTP answer for a page of another site (403) or an
// invalid bearer / ?token= (401). Then a reader (this coroutine), a writer and an idle
// watch run on the connection's worker; each accepted message is answered by its own
// coroutine there (queued, chunk and reply frames; at most 8 in flight per connection).
// What waits unsent is bounded: past half of ws_max_queued_bytes the reader stops reading
// (the client's own sends then block in TCP), and a client that does not read for
// ws_send_timeout, or whose replies pass the bound, is cut. Invalid messages are answered,
// then a flood of them closes the connection (1008); a message over body_limit closes it
// (1009); no message for ws_idle_timeout closes it (1000, "idle"). At the drain every
// connection is sent 1001 after its replies.
//
// Ownership: the connection's state is shared by its coroutines (a shared_ptr each) and dies
// with the last; `ctx` outlives it (Server). Thread safety: the connection's coroutines run
// on its worker's thread only; the drain's close request is posted there.
// An exception in one of the connection's coroutines ends that connection only; it is
// logged and counted (core/supervised.hpp), not swallowed.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <string>

#include "server/server_context.hpp"

namespace ma::server {

// `req`: the upgrade request; `remote`: the client's address (ServerContext::client_of).
boost::asio::awaitable<void> serve_websocket(ServerContext& ctx, boost::beast::tcp_stream stream,
                                             Request req, std::string remote);

}  // namespace ma::server
